//! The hot path: nginx `auth_request` (and Traefik/Caddy forward auth) asks on every request of
//! every protected app whether it may pass and as whom.
//!
//! Parse the URL, find the cookie, SHA-256 the token, look it up in the cache (the store only on
//! a miss), apply the access rules, decide, set headers. No logging above debug, no hashing
//! beyond one SHA-256 per session cookie (one, normally; cookies naming two people sign nobody
//! in), no database round trip on a cache hit. Counting it (`crate::metrics`) is two clock reads
//! and atomic adds on handles made at start: no label built, no map looked up. The decision is a
//! [`Verdict`]; the connection loop (`super::proxy_auth_conn`) writes it straight to the socket,
//! hyper and the router's routes turn it into a `Response` (`answer_request`), so every way in
//! answers alike.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;

use super::client_ip::{client_ip, is_trusted};
use super::extract::session_in;
use super::headers::{first, single, RequestHeaders};
use super::redirect::is_safe;
use crate::core::Core;
use crate::domain::access::{decide_with_rule, ip_list_contains, parse_request_with, Decision};
use crate::domain::forwarded::{self, Forwarded};
use crate::domain::now_coarse;
use crate::domain::rules::{first_match, Subject};
use crate::domain::session::{push_header_line, IDENTITY_HEADERS};
use crate::domain::SessionView;
use crate::metrics::ProxyAuthResult::{self, Anonymous, Malformed, Refused, StoreDown, User};

/// The original request from a trusted proxy's `X-Forwarded-*` headers.
fn forwarded_of<H: RequestHeaders + ?Sized>(headers: &H) -> Result<Option<Forwarded<'_>>, ()> {
    forwarded::parse(
        single(headers, "x-forwarded-method")?,
        single(headers, "x-forwarded-proto")?,
        single(headers, "x-forwarded-host")?,
        single(headers, "x-forwarded-uri")?,
    )
    .map_err(|_| ())
}

/// What the check decided, before it is written: as an axum `Response` by the router, or
/// straight into the connection's buffer by `super::proxy_auth_conn`. Both read the status and
/// headers from here, so they cannot differ. The body is always empty.
pub enum Verdict {
    /// 200 with the person's identity headers.
    User(Arc<SessionView>),
    /// 200 without identity; for forward auth the identity headers are sent empty.
    Anonymous { forward_auth: bool },
    /// 401, or 503 when the store could not vouch for a cookie.
    Status(StatusCode),
    /// Nobody signed in, a page load: the sign-in address in `Location` (401 for nginx, 302
    /// with `redirect=1`).
    SignIn {
        status: StatusCode,
        location: HeaderValue,
    },
}

/// The names of [`IDENTITY_HEADERS`], in the order they are sent, made once.
static IDENTITY: LazyLock<[HeaderName; 7]> =
    LazyLock::new(|| IDENTITY_HEADERS.map(|(name, _)| HeaderName::from_static(name)));

/// The identity headers sent empty (forward auth, nobody signed in), as written on the wire.
static EMPTY_IDENTITY_LINES: LazyLock<Box<[u8]>> = LazyLock::new(|| {
    let mut lines = Vec::new();
    for (name, _) in IDENTITY_HEADERS {
        push_header_line(&mut lines, name, b"");
    }
    lines.into_boxed_slice()
});

static EMPTY: HeaderValue = HeaderValue::from_static("");
static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

impl Verdict {
    pub fn status(&self) -> StatusCode {
        match self {
            Verdict::User(_) | Verdict::Anonymous { .. } => StatusCode::OK,
            Verdict::Status(code) | Verdict::SignIn { status: code, .. } => *code,
        }
    }

    /// Calls `f` with each header of the answer, in order.
    pub fn each_header(&self, mut f: impl FnMut(&HeaderName, &HeaderValue)) {
        match self {
            Verdict::User(s) => {
                for (name, (_, field)) in IDENTITY.iter().zip(IDENTITY_HEADERS) {
                    f(name, s.headers.value(field));
                }
            }
            // Caddy 2.6 copies an absent header as the literal placeholder text, which an app
            // would take as a name; newer Caddy skips empty values instead, so the generated
            // Caddyfile removes every client copy of these headers before `forward_auth` runs
            // (see `proxy_config::caddy`).
            Verdict::Anonymous { forward_auth: true } => {
                for name in IDENTITY.iter() {
                    f(name, &EMPTY);
                }
            }
            Verdict::Anonymous {
                forward_auth: false,
            }
            | Verdict::Status(_) => {}
            Verdict::SignIn { location, .. } => {
                f(&header::LOCATION, location);
                f(&header::CACHE_CONTROL, &NO_STORE);
            }
        }
    }

    /// Appends the answer's headers as written on the wire (`name: value\r\n` each, names as
    /// [`each_header`](Self::each_header) gives them): an identity is one copy of lines
    /// prepared when the person was read.
    pub fn write_headers(&self, out: &mut Vec<u8>) {
        match self {
            Verdict::User(s) => out.extend_from_slice(s.headers.lines()),
            Verdict::Anonymous { forward_auth: true } => {
                out.extend_from_slice(&EMPTY_IDENTITY_LINES)
            }
            _ => self
                .each_header(|name, value| push_header_line(out, name.as_str(), value.as_bytes())),
        }
    }

    /// The answer as a `Response` (the router's way), its header map sized once.
    pub fn into_response(self) -> Response {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = self.status();
        if !matches!(
            self,
            Verdict::Status(_)
                | Verdict::Anonymous {
                    forward_auth: false
                }
        ) {
            let h = r.headers_mut();
            *h = HeaderMap::with_capacity(IDENTITY.len());
            self.each_header(|name, value| {
                h.insert(name.clone(), value.clone());
            });
        }
        r
    }
}

/// Answers a proxy-auth request: 200 with identity headers, 200 without (allow-listed IP, an
/// allow rule, or a guest), 401 without identity, or 503 when the cookie's session is not
/// cached and the store does not answer. A page load by nobody-signed-in that
/// came with `X-Forwarded-*` gets the sign-in address: a 302 with `redirect=1`, else in the
/// 401's Location.
pub async fn proxy_auth(
    State(core): State<Arc<Core>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    answer_request(&core, peer, req.uri(), req.headers()).await
}

/// [`proxy_auth`] for a request's target and headers.
pub async fn answer_request(
    core: &Core,
    peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    check(core, peer, uri.path(), uri.query(), headers)
        .await
        .into_response()
}

/// The verdict for a request's path, query and headers, counted in the metrics.
pub async fn check<H: RequestHeaders + ?Sized>(
    core: &Core,
    peer: SocketAddr,
    path: &str,
    query: Option<&str>,
    headers: &H,
) -> Verdict {
    // A monotonic clock read is a vDSO call (tens of nanoseconds); the counters are atomics.
    let started = Instant::now();
    let (result, verdict) = decide(core, peer, path, query, headers).await;
    core.metrics.proxy_auth(result, started);
    verdict
}

/// The verdict, and what it was for `usher_proxy_auth_requests_total`.
async fn decide<H: RequestHeaders + ?Sized>(
    core: &Core,
    peer: SocketAddr,
    path: &str,
    query: Option<&str>,
    headers: &H,
) -> (ProxyAuthResult, Verdict) {
    // A group that is not a number names a tab: read from the in-memory index, never the store.
    let tab_group = |name: &str| core.tab_group(name);
    let Ok(request) = parse_request_with(path, query, &tab_group) else {
        tracing::debug!(path, "proxy auth: malformed request");
        return (Malformed, Verdict::Status(StatusCode::UNAUTHORIZED));
    };
    let settings = core.settings();
    let ip = client_ip(peer.ip(), headers, &settings.trusted_proxies);
    // X-Forwarded-* are believed only from a trusted proxy; from one, odd values refuse.
    let fwd = if is_trusted(peer.ip(), &settings.trusted_proxies) {
        match forwarded_of(headers) {
            Ok(f) => f,
            Err(()) => {
                tracing::debug!("proxy auth: malformed X-Forwarded-* headers");
                return (Malformed, Verdict::Status(StatusCode::UNAUTHORIZED));
            }
        }
    } else {
        None
    };

    // The allow list passes without a session, so look at it before any lookup.
    if let Some(allow) = &request.allow {
        if ip_list_contains(allow, ip) == Ok(true) {
            return (
                Anonymous,
                Verdict::Anonymous {
                    forward_auth: fwd.is_some(),
                },
            );
        }
    }

    // A session that is not cached while the store is down cannot be vouched for: 503, never a
    // pass and never a sign-in redirect (docs/scaling.md). Cached sessions keep passing.
    // A person who must turn two-factor on first counts as nobody signed in until they have.
    let two_factor = settings.two_factor;
    let at = now_coarse(); // one clock read for the expiry check and the last-seen time
    let session: Option<Arc<SessionView>> = match session_in(headers, &settings.cookie_name, core)
        .await
    {
        Ok(found) => found
            .map(|s| s.view)
            .filter(|s| s.expires_at > at)
            .filter(|s| !s.must_enrol(two_factor.required_up_to_group, two_factor.skip_for_plex)),
        Err(_) => return (StoreDown, Verdict::Status(StatusCode::SERVICE_UNAVAILABLE)),
    };

    let rule = if settings.proxy_rules.is_empty() {
        None
    } else {
        let subject = Subject {
            ip,
            session: session.as_deref(),
            host: fwd.as_ref().map(Forwarded::hostname),
            path: fwd.as_ref().map(|f| f.path.as_str()),
        };
        first_match(&settings.proxy_rules, &subject)
    };

    match decide_with_rule(&request, ip, session.as_deref(), rule) {
        Decision::PassUser => {
            let s = session.expect("PassUser implies a session");
            s.touch(at);
            (User, Verdict::User(s))
        }
        Decision::PassAnonymous => (
            Anonymous,
            Verdict::Anonymous {
                forward_auth: fwd.is_some(),
            },
        ),
        Decision::Refuse => match &fwd {
            Some(f) if session.is_none() && is_page_load(headers) => {
                (Refused, login_redirect(f, &settings, request.redirect))
            }
            _ => (Refused, Verdict::Status(StatusCode::UNAUTHORIZED)),
        },
    }
}

fn is_page_load<H: RequestHeaders + ?Sized>(headers: &H) -> bool {
    forwarded::is_page_load(first(headers, "accept"), first(headers, "x-requested-with"))
}

/// The sign-in page with `rd` = the original URL in `Location`, but only when the login page
/// would send the person back there (the redirect allow-list); otherwise a plain 401. With
/// `redirect=1` (Caddy, Traefik pass the answer on) a 302; for nginx a 401 whose Location the
/// `error_page 401 = @usher_login` snippet turns into the redirect (nginx makes a 302 a 500).
fn login_redirect(
    fwd: &Forwarded<'_>,
    settings: &crate::settings::Settings,
    redirect: bool,
) -> Verdict {
    let original = fwd.url();
    let public = settings.public_url.as_ref().map(|u| u.as_str());
    // Without public_url the sign-in page lives on the original host, which is then "own".
    let own_host = if public.is_none() {
        Some(fwd.host.as_str())
    } else {
        None
    };
    if !is_safe(&original, settings, own_host) {
        tracing::debug!(host = %fwd.host, "forward auth: original URL not allowed as a redirect");
        return Verdict::Status(StatusCode::UNAUTHORIZED);
    }
    let status = if redirect {
        StatusCode::FOUND
    } else {
        StatusCode::UNAUTHORIZED
    };
    match HeaderValue::from_str(&forwarded::login_url(public, fwd, &original)) {
        Ok(location) => Verdict::SignIn { status, location },
        Err(_) => Verdict::Status(StatusCode::UNAUTHORIZED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `each_header` gives, written the way hyper writes headers.
    fn formatted(verdict: &Verdict) -> Vec<u8> {
        let mut out = Vec::new();
        verdict.each_header(|name, value| {
            out.extend_from_slice(format!("{}: ", name.as_str()).as_bytes());
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        });
        out
    }

    #[test]
    fn prepared_header_lines_are_the_headers_written_out() {
        let person = |name: &str, email: Option<&str>, group: &str| {
            Verdict::User(Arc::new(SessionView::new(
                1,
                7,
                name.into(),
                email.map(Into::into),
                4,
                group.into(),
                false,
                i64::MAX,
                0,
            )))
        };
        let verdicts = [
            person("alice", Some("alice@example.org"), "User"),
            person("zoë ünïcode", None, "Power Users"),
            person("bob", Some(""), "a,b"),
            Verdict::Anonymous { forward_auth: true },
            Verdict::Anonymous {
                forward_auth: false,
            },
            Verdict::Status(StatusCode::UNAUTHORIZED),
            Verdict::SignIn {
                status: StatusCode::FOUND,
                location: HeaderValue::from_static("https://usher.example/?rd=x"),
            },
        ];
        for verdict in &verdicts {
            let mut lines = Vec::new();
            verdict.write_headers(&mut lines);
            assert_eq!(
                String::from_utf8_lossy(&lines),
                String::from_utf8_lossy(&formatted(verdict))
            );
        }
        let mut lines = Vec::new();
        verdicts[1].write_headers(&mut lines);
        let text = String::from_utf8(lines).unwrap();
        assert!(text.starts_with("x-organizr-user: zoë ünïcode\r\nx-organizr-email: \r\n"));
        assert!(text.contains("\r\nremote-groups: Power Users\r\nremote-name: zoë ünïcode\r\n"));
    }
}
