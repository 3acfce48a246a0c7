//! The browser auth page standing in for `https://app.plex.tv/auth`, and small utilities.

use super::*;

// ---------- the browser auth page ----------

pub(super) const AUTH_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fake Plex sign-in</title></head>
<body>
<h1>Fake plex.tv</h1>
<p id="status">Sign in to <b id="product"></b></p>
<div id="buttons"></div>
<script>
const accounts = __ACCOUNTS__;
const params = new URLSearchParams(location.hash.replace(/^#!?\??/, ''));
const clientID = params.get('clientID'), code = params.get('code'), forwardUrl = params.get('forwardUrl');
const note = document.getElementById('status');
if (!clientID || !code) {
  note.textContent = 'Missing clientID or code in the URL fragment';
} else {
  document.getElementById('product').textContent = params.get('context[device][product]') || '(no product)';
  for (const a of accounts) {
    const b = document.createElement('button');
    b.textContent = 'Approve as ' + a.name;
    b.dataset.account = a.id;
    b.onclick = async () => {
      const r = await fetch('/__test/pins/by-code/' + encodeURIComponent(code) + '/approve?account=' + a.id +
                            '&clientID=' + encodeURIComponent(clientID), {method: 'POST'});
      if (!r.ok) { note.textContent = 'Approval failed: ' + r.status + ' ' + await r.text(); return; }
      if (forwardUrl) { location.href = forwardUrl; return; }
      note.textContent = 'Approved — you can close this window';
      window.close();
    };
    document.getElementById('buttons').appendChild(b);
  }
}
</script>
</body></html>
"#;

pub(super) async fn auth_page(State(shared): S) -> Response {
    let accounts: Vec<Value> = shared
        .world()
        .seed
        .accounts
        .iter()
        .map(|a| json!({"id": a.id, "name": if a.username.is_empty() { &a.title } else { &a.username }}))
        .collect();
    let list = Value::Array(accounts).to_string().replace("</", "<\\/");
    Html(AUTH_PAGE.replace("__ACCOUNTS__", &list)).into_response()
}

// ---------- small utilities ----------

pub(super) fn iso8601(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

pub(super) fn base64_decode(input: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut bits, mut count, mut out) = (0u32, 0u32, Vec::new());
    for byte in input.trim().bytes().filter(|b| *b != b'=') {
        bits = (bits << 6) | ALPHABET.iter().position(|c| *c == byte)? as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    String::from_utf8(out).ok()
}
