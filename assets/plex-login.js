// "Sign in with Plex": opens plex.tv's page in a popup and polls Usher (which polls plex.tv) until
// the sign-in is approved. When the browser blocks the popup (phones), the link's own full-page flow
// (/plex/start → plex.tv → /plex/return) is used instead.
(function () {
  'use strict';
  var link = document.getElementById('plex-signin');
  var note = document.getElementById('plex-status');
  if (!link) return;
  function say(text) { if (note) note.textContent = text; }
  function remember() {
    var box = document.getElementById('remember');
    return !!(box && box.checked);
  }
  function fullPage() {
    window.location.href = link.href + (remember() ? '&remember=1' : '');
  }
  link.addEventListener('click', function (event) {
    event.preventDefault();
    // Open the window inside the click, before any await, or popup blockers refuse it.
    var popup = window.open('', 'usher-plex', 'width=600,height=700');
    if (!popup) { fullPage(); return; }
    say('Waiting for Plex…');
    fetch('/api/v2/plex/pin', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ rd: link.dataset.rd || '', remember: remember() })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (!res.ok) { popup.close(); say(message(res.body)); return; }
      popup.location = res.body.auth_url;
      poll(res.body.id, popup, 0);
    }).catch(function () { popup.close(); say('Usher could not be reached.'); });
  });
  function message(body) {
    return (body && body.error && body.error.message) || 'Sign in with Plex failed.';
  }
  function poll(id, popup, closedPolls) {
    setTimeout(function () {
      fetch('/api/v2/plex/pin/' + encodeURIComponent(id), { credentials: 'same-origin' })
        .then(function (r) {
          if (r.status === 202) {
            // The popup closes itself after approval; a few more polls catch that approval.
            var closed = popup.closed ? closedPolls + 1 : 0;
            if (closed > 3) { say('The Plex window was closed before the sign-in finished.'); return; }
            poll(id, popup, closed);
            return;
          }
          return r.json().then(function (body) {
            if (!popup.closed) popup.close();
            if (r.ok) { window.location.href = body.redirect || '/'; return; }
            say(message(body));
          });
        })
        .catch(function () { poll(id, popup, closedPolls); });
    }, 1000);
  }
})();
