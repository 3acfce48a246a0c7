// The signed-in pages' behaviour, all of it: forms that send JSON to Usher's API and show each
// refused field next to its input, one-click actions, the Plex "Retrieve" buttons, the SSO "Test"
// buttons and tab ordering. No framework, no build step; pages work as plain HTML around it.
(function () {
  'use strict';

  function api(method, url, body) {
    var init = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (r) {
      return r.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        return { ok: r.ok, status: r.status, body: parsed };
      });
    }, function () {
      return { ok: false, status: 0, body: { error: { message: 'Usher could not be reached. Is it running?' } } };
    });
  }

  function errorText(res) {
    var e = res.body && res.body.error;
    if (e && e.message) return e.message;
    return 'Something went wrong (HTTP ' + res.status + ').';
  }

  function say(el, text, good) {
    if (!el) return;
    el.textContent = text;
    el.classList.remove('ok', 'bad');
    if (good === true) el.classList.add('ok');
    if (good === false) el.classList.add('bad');
  }

  function pageStatus() { return document.getElementById('page-status'); }

  // What a form that reloads the page has done, said on the reloaded page.
  var DONE_KEY = 'usher-done';
  var doneBefore = sessionStorage.getItem(DONE_KEY);
  if (doneBefore !== null) {
    sessionStorage.removeItem(DONE_KEY);
    say(pageStatus(), doneBefore, true);
  }

  function split(spec) {
    var i = spec.indexOf(' ');
    return { method: spec.slice(0, i), url: spec.slice(i + 1) };
  }

  // A field's value as the API wants it (data-type: int, bool, json, text; data-empty: null|skip).
  function valueOf(input) {
    var type = input.getAttribute('data-type') || 'text';
    if (input.type === 'checkbox') return input.checked;
    var raw = input.value;
    if (raw.trim() === '') {
      var empty = input.getAttribute('data-empty');
      if (empty === 'null') return null;
      if (empty === 'skip') return undefined;
      return raw;
    }
    if (type === 'int') {
      // Anything that is not a whole number goes as typed: the server names the problem.
      return /^-?\d+$/.test(raw.trim()) ? parseInt(raw.trim(), 10) : raw;
    }
    if (type === 'json') {
      try { return JSON.parse(raw); } catch (e) { return raw; }
    }
    if (type === 'lines') {
      return raw.split('\n').map(function (l) { return l.trim(); }).filter(function (l) { return l !== ''; });
    }
    return raw;
  }

  function initial(input) {
    if (input.type === 'checkbox') return String(input.defaultChecked);
    if (input.tagName === 'SELECT') {
      // A select has no defaultValue: the option the page was served with is marked selected.
      var served = Array.prototype.filter.call(input.options, function (o) { return o.defaultSelected; })[0] || input.options[0];
      return served ? served.value : '';
    }
    return input.defaultValue;
  }
  function current(input) {
    return input.type === 'checkbox' ? String(input.checked) : input.value;
  }

  // Why a field cannot be sent as typed (checked before anything is sent), or null.
  function localProblem(input) {
    if (input.validity && input.validity.badInput) return 'Enter a whole number.';
    if (input.getAttribute('data-type') === 'json' && input.value.trim() !== '') {
      try { JSON.parse(input.value); } catch (e) { return 'This is not valid JSON: ' + e.message; }
    }
    return null;
  }

  function clearErrors(form) {
    form.querySelectorAll('[data-error-for]').forEach(function (el) { el.textContent = ''; });
    form.querySelectorAll('.invalid').forEach(function (el) {
      el.classList.remove('invalid');
      el.removeAttribute('aria-invalid');
    });
  }

  function showFieldErrors(form, fields) {
    var first = null;
    Object.keys(fields || {}).forEach(function (name) {
      var slot = form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
      var input = form.querySelector('[name="' + CSS.escape(name) + '"]');
      var why = String(fields[name]);
      if (slot) slot.textContent = why.charAt(0).toUpperCase() + why.slice(1);
      if (input) {
        input.classList.add('invalid');
        input.setAttribute('aria-invalid', 'true');
        if (!first) first = input;
      }
    });
    if (first) first.focus();
    return !!first;
  }

  // Profile → Two-factor sign-in: first the QR code and key (an SVG Usher drew), then the
  // recovery codes, each shown once.
  function showTwoFactor(body) {
    var setup = document.getElementById('tf-setup');
    if (body.qr_svg && setup) {
      document.getElementById('tf-qr').innerHTML = body.qr_svg;
      document.getElementById('tf-secret').textContent = body.secret;
      document.getElementById('tf-begin').hidden = true;
      setup.hidden = false;
      document.getElementById('tf-code').focus();
    }
    if (body.recovery_codes && setup) {
      var list = document.getElementById('tf-codes');
      body.recovery_codes.forEach(function (code) {
        var item = document.createElement('li');
        item.textContent = code;
        list.appendChild(item);
      });
      setup.hidden = true;
      var required = document.getElementById('tf-required');
      if (required) required.hidden = true;
      document.getElementById('tf-done').hidden = false;
    }
  }

  // A client secret the server shows once (OpenID Connect clients): into #secret-box.
  function showSecret(body, clientId) {
    var box = document.getElementById('secret-box');
    if (!box) { window.location.reload(); return; }
    var value = document.getElementById('secret-value');
    value.textContent = body.client_secret || '(a public client has no secret)';
    document.getElementById('secret-for').textContent = (body.client && body.client.id) || clientId || '';
    box.hidden = false;
    box.scrollIntoView({ block: 'nearest' });
  }

  // <button data-copy="text">: puts the text on the clipboard.
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var text = button.getAttribute('data-copy');
      if (text === '#secret-value') text = document.getElementById('secret-value').textContent;
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = 'Copied';
      }, function () {
        say(pageStatus(), 'Copying is not allowed here: select the text and copy it by hand.', false);
      });
    });
  });

  // <form data-api="PATCH /api/v2/settings" [data-changed-only] [data-then="reload|stay|/url"]>
  document.querySelectorAll('form[data-api]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var spec = split(form.getAttribute('data-api'));
      var changedOnly = form.hasAttribute('data-changed-only');
      var body = {};
      var problems = {};
      form.querySelectorAll('input[name], select[name], textarea[name]').forEach(function (input) {
        if (input.disabled) return;
        if (changedOnly && current(input) === initial(input) && !input.hasAttribute('data-dirty') &&
            !(input.validity && input.validity.badInput)) return;
        var problem = localProblem(input);
        if (problem) { problems[input.name] = problem; return; }
        var v = valueOf(input);
        if (v !== undefined) body[input.name] = v;
      });
      var status = form.querySelector('[data-status]') || pageStatus();
      clearErrors(form);
      if (Object.keys(problems).length > 0) {
        showFieldErrors(form, problems);
        say(status, 'Nothing was saved: fix the marked field.', false);
        return;
      }
      if (changedOnly && Object.keys(body).length === 0) {
        say(status, 'Nothing changed.', null);
        return;
      }
      var button = form.querySelector('button[type=submit]');
      if (button) button.disabled = true;
      say(status, 'Saving…', null);
      api(spec.method, spec.url, body).then(function (res) {
        if (button) button.disabled = false;
        if (!res.ok) {
          var fields = res.body && res.body.error && res.body.error.fields;
          var pointed = showFieldErrors(form, fields);
          say(status, pointed ? 'Nothing was saved: fix the marked field.' : errorText(res), false);
          return;
        }
        var then = form.getAttribute('data-then') || 'reload';
        if (then === 'stay') {
          form.querySelectorAll('input[name], select[name], textarea[name]').forEach(function (input) {
            if (input.type === 'checkbox') input.defaultChecked = input.checked;
            else if (input.tagName === 'SELECT') Array.prototype.forEach.call(input.options, function (o) { o.defaultSelected = o.selected; });
            else if (input.type === 'password') {
              if (input.value !== '') input.placeholder = 'Saved — leave empty to keep';
              input.value = '';
              input.defaultValue = '';
            } else if (input.hasAttribute('data-clear-hidden')) {
              // The saved secret was removed: the field is empty and usable again.
              var field = form.querySelector('[name="' + CSS.escape(input.name) + '"]:disabled');
              var box = form.querySelector('[data-clear-for="' + CSS.escape(input.name) + '"]');
              if (field) { field.disabled = false; field.placeholder = 'Not set'; }
              if (box) { box.checked = false; box.closest('label').hidden = true; }
              input.remove();
              return;
            }
            else input.defaultValue = input.value;
            input.removeAttribute('data-dirty');
          });
          // Secrets dropped because their app's address changed without them.
          var forgotten = (res.body && res.body.forgotten) || [];
          forgotten.forEach(function (key) {
            var field = form.querySelector('[name="' + CSS.escape(key) + '"]');
            var box = form.querySelector('[data-clear-for="' + CSS.escape(key) + '"]');
            if (field) field.placeholder = 'Not set';
            if (box) box.closest('label').hidden = true;
          });
          say(status, forgotten.length
            ? 'Saved. The address changed, so the saved ' + forgotten.join(', ') + ' was removed: enter it again.'
            : (form.getAttribute('data-done') || 'Saved.'), true);
        } else if (then === 'two-factor') {
          showTwoFactor(res.body || {});
        } else if (then === 'secret') {
          say(status, form.getAttribute('data-done') || 'Saved.', true);
          showSecret(res.body || {});
        } else if (then === 'reload') {
          // data-done survives the reload: the page says it once it is back ({name} = the field).
          var done = form.getAttribute('data-done');
          if (done) {
            sessionStorage.setItem(DONE_KEY, done.replace(/\{(\w+)\}/g, function (_, k) {
              return body[k] === undefined ? '' : String(body[k]);
            }));
          }
          window.location.reload();
        } else {
          window.location.href = then;
        }
      });
    });
  });

  // <button data-action="POST /api/v2/users/3/lock" [data-confirm="…"]>
  document.querySelectorAll('button[data-action]').forEach(function (button) {
    button.addEventListener('click', function () {
      var question = button.getAttribute('data-confirm');
      if (question && !window.confirm(question)) return;
      var spec = split(button.getAttribute('data-action'));
      var body = button.hasAttribute('data-body') ? JSON.parse(button.getAttribute('data-body')) : undefined;
      button.disabled = true;
      api(spec.method, spec.url, body).then(function (res) {
        button.disabled = false;
        if (res.ok) {
          var then = button.getAttribute('data-then');
          if (then === 'secret') showSecret(res.body || {}, button.getAttribute('data-client'));
          else if (then) window.location.href = then; else window.location.reload();
        } else {
          say(pageStatus(), errorText(res), false);
          if (pageStatus()) pageStatus().scrollIntoView({ block: 'nearest' });
        }
      });
    });
  });

  // Settings → Authentication → Plex token → Retrieve: the owner signs in to plex.tv in a popup.
  document.querySelectorAll('button[data-retrieve="plex-token"]').forEach(function (button) {
    var status = document.getElementById('plex-token-status');
    button.addEventListener('click', function () {
      var popup = window.open('', 'usher-plex-owner', 'width=600,height=700');
      if (!popup) { say(status, 'Allow pop-ups for this page, then press Retrieve again.', false); return; }
      button.disabled = true;
      say(status, 'Sign in to Plex in the new window…', null);
      api('POST', '/api/v2/plex/admin/pin').then(function (res) {
        if (!res.ok) { popup.close(); button.disabled = false; say(status, errorText(res), false); return; }
        popup.location = res.body.auth_url;
        var misses = 0;
        (function poll() {
          setTimeout(function () {
            api('GET', '/api/v2/plex/admin/pin/' + encodeURIComponent(res.body.id)).then(function (p) {
              if (p.status === 202) {
                misses = popup.closed ? misses + 1 : 0;
                if (misses > 3) { button.disabled = false; say(status, 'The Plex window was closed before you signed in.', false); return; }
                poll();
                return;
              }
              if (!popup.closed) popup.close();
              button.disabled = false;
              if (!p.ok) { say(status, errorText(p), false); return; }
              var who = p.body.account && (p.body.account.username || p.body.account.email);
              var input = document.querySelector('[name="plex.token"]');
              if (input) input.placeholder = 'Saved — leave empty to keep';
              say(status, 'Token saved' + (who ? ' for Plex account ' + who : '') + '.', true);
            });
          }, 1000);
        })();
      });
    });
  });

  // Settings → Authentication → Plex Machine → Retrieve: pick one of the token owner's servers.
  document.querySelectorAll('button[data-retrieve="plex-machine"]').forEach(function (button) {
    var status = document.getElementById('plex-machine-status');
    var list = document.getElementById('plex-machine-picker');
    button.addEventListener('click', function () {
      button.disabled = true;
      say(status, 'Asking plex.tv for your servers…', null);
      api('GET', '/api/v2/plex/servers?owned=1').then(function (res) {
        button.disabled = false;
        list.textContent = '';
        if (!res.ok) { say(status, errorText(res), false); return; }
        var servers = res.body.servers || [];
        if (servers.length === 0) { say(status, 'The Plex token owns no servers. Is it the server owner\'s token?', false); return; }
        say(status, 'Pick your server:', null);
        servers.forEach(function (s) {
          var li = document.createElement('li');
          var pick = document.createElement('button');
          pick.type = 'button';
          pick.className = 'secondary';
          pick.setAttribute('data-machine', s.machine_id);
          pick.textContent = s.name + (s.version ? ' (Plex ' + s.version + ')' : '') + (s.online === false ? ' — offline' : '');
          pick.addEventListener('click', function () {
            var input = document.querySelector('[name="plex.machine_id"]');
            input.value = s.machine_id;
            input.setAttribute('data-dirty', '');
            list.textContent = '';
            say(status, 'Picked ' + s.name + '. Press Save to keep it.', true);
            input.focus();
          });
          li.appendChild(pick);
          list.appendChild(li);
        });
      });
    });
  });

  // Settings → Single Sign-On → app → Test: tries the saved settings with the given account.
  document.querySelectorAll('form[data-sso-test]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var app = form.getAttribute('data-sso-test');
      var out = form.querySelector('[data-test-results]');
      var status = form.querySelector('[data-status]');
      var body = {};
      form.querySelectorAll('input[name]').forEach(function (input) {
        if (input.value.trim() !== '') body[input.name] = input.value;
      });
      var button = form.querySelector('button[type=submit]');
      button.disabled = true;
      out.textContent = '';
      say(status, 'Testing… (at most the app timeout)', null);
      api('POST', '/api/v2/sso/test/' + app, body).then(function (res) {
        button.disabled = false;
        if (!res.ok) { say(status, errorText(res), false); return; }
        var results = res.body.results || [];
        if (results.length === 0) { say(status, 'Nothing to test: set the URL and turn the app on first.', false); return; }
        var allGood = results.every(function (r) { return r.ok; });
        say(status, allGood ? 'Works.' : 'Failed.', allGood);
        results.forEach(function (r) {
          var li = document.createElement('li');
          li.className = r.ok ? 'ok' : 'bad';
          var text = (r.ok ? '✓ ' : '✗ ') + (r.instance || 'the app') + ' — ' + r.elapsed_ms + ' ms';
          if (r.ok) {
            var names = (r.cookies || []).map(function (c) { return c.name + ' (path ' + c.path + ')'; })
              .concat(r.storage_keys || []);
            text += names.length ? ': would set ' + names.join(', ') : '';
            if (r.used_fallback) text += ' (through the fallback user)';
          } else {
            text += ': ' + r.error.message;
          }
          li.textContent = text;
          out.appendChild(li);
        });
      });
    });
  });

  // Tabs: move a row up or down, then save the whole order.
  document.querySelectorAll('button[data-move]').forEach(function (button) {
    button.addEventListener('click', function () {
      var row = button.closest('tr');
      var body = row.parentNode;
      if (button.getAttribute('data-move') === 'up' && row.previousElementSibling) {
        body.insertBefore(row, row.previousElementSibling);
      } else if (button.getAttribute('data-move') === 'down' && row.nextElementSibling) {
        body.insertBefore(row.nextElementSibling, row);
      } else {
        return;
      }
      var ids = Array.prototype.map.call(body.querySelectorAll('tr[data-id]'), function (tr) {
        return parseInt(tr.getAttribute('data-id'), 10);
      });
      var movers = document.querySelectorAll('button[data-move]');
      movers.forEach(function (b) { b.disabled = true; });
      api('POST', '/api/v2/tabs/order', { ids: ids }).then(function (res) {
        if (!res.ok) {
          // Show the order the server kept rather than one it refused.
          say(pageStatus(), errorText(res) + ' Reloading the saved order…', false);
          setTimeout(function () { window.location.reload(); }, 1500);
          return;
        }
        movers.forEach(function (b) { b.disabled = false; });
        say(pageStatus(), 'Order saved.', true);
        button.focus();
      });
    });
  });

  // Users: the search box filters the table as you type.
  var search = document.getElementById('user-search');
  if (search) {
    search.addEventListener('input', function () {
      var q = search.value.trim().toLowerCase();
      document.querySelectorAll('tr[data-search]').forEach(function (tr) {
        tr.hidden = q !== '' && tr.getAttribute('data-search').indexOf(q) === -1;
      });
    });
  }

  // A secret setting's "Clear" box sends null instead of the (empty) field.
  document.querySelectorAll('input[data-clear-for]').forEach(function (box) {
    box.addEventListener('change', function () {
      var input = document.querySelector('[name="' + CSS.escape(box.getAttribute('data-clear-for')) + '"]');
      if (!input) return;
      input.disabled = box.checked;
      if (box.checked) {
        var hidden = document.createElement('input');
        hidden.type = 'hidden';
        hidden.name = input.name;
        hidden.setAttribute('data-empty', 'null');
        hidden.setAttribute('data-dirty', '');
        hidden.setAttribute('data-clear-hidden', '');
        input.parentNode.appendChild(hidden);
      } else {
        var h = input.parentNode.querySelector('[data-clear-hidden]');
        if (h) h.remove();
      }
    });
  });
})();
