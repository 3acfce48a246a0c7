// Single sign-on hand-over for apps served under Usher's own origin (Plex Web, Ombi, Jellyfin):
// they read their sign-in from localStorage, which only a page of this origin can write. The items
// come from the signed-in, same-origin /api/v2/sso/launch; they are never put in a readable cookie.
// Sign-out removes exactly the items the sign-in wrote.
(function () {
  'use strict';
  function post(url) {
    return fetch(url, { method: 'POST', credentials: 'same-origin' });
  }
  function write(storage) {
    Object.keys(storage || {}).forEach(function (key) {
      try { localStorage.setItem(key, storage[key]); } catch (e) { /* storage full or blocked */ }
    });
  }
  function launch() {
    return fetch('/api/v2/sso/launch', { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : { storage: {} }; })
      .then(function (body) {
        write(body.storage);
        // An app forgets its sign-in after its own lifetime: renew before people hit its login page.
        if (!body.refresh_due) return;
        return post('/api/v2/sso/refresh')
          .then(function (r) { return r.ok ? r.json() : { storage: {} }; })
          .then(function (fresh) { write(fresh.storage); });
      });
  }
  var root = document.querySelector('[data-sso-launch]');
  if (root) {
    var next = root.getAttribute('data-next');
    var done = function () { if (next) window.location.replace(next); };
    launch().then(done, done);
  }
  Array.prototype.forEach.call(document.querySelectorAll('form[data-sso-logout]'), function (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      post('/api/v2/logout')
        .then(function (r) { return r.json(); })
        .then(function (body) {
          (body.clear_storage || []).forEach(function (key) { localStorage.removeItem(key); });
          window.location.href = '/login';
        }, function () { form.submit(); });
    });
  });
})();
