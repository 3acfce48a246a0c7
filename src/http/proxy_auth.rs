//! The hot path: nginx `auth_request` (and Traefik/Caddy forward auth) asks on every request of
//! every protected app whether it may pass and as whom.
//!
//! Parse the URL, find the cookie, SHA-256 the token, look it up in the cache (the store only on
//! a miss), decide, set headers. No logging above debug, no hashing beyond the one SHA-256, no
//! database round trip on a cache hit.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::Response;

use super::client_ip::client_ip;
use super::cookies::cookie_values;
use crate::core::Core;
use crate::domain::access::{decide, ip_list_contains, parse_request, Decision};
use crate::domain::now;
use crate::domain::session::hash_cookie_value;

static X_ORGANIZR_USER: HeaderName = HeaderName::from_static("x-organizr-user");
static X_ORGANIZR_EMAIL: HeaderName = HeaderName::from_static("x-organizr-email");
static X_ORGANIZR_GROUP: HeaderName = HeaderName::from_static("x-organizr-group");
static REMOTE_USER: HeaderName = HeaderName::from_static("remote-user");
static REMOTE_EMAIL: HeaderName = HeaderName::from_static("remote-email");
static REMOTE_GROUPS: HeaderName = HeaderName::from_static("remote-groups");
static REMOTE_NAME: HeaderName = HeaderName::from_static("remote-name");

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

/// Answers a proxy-auth request: 200 with identity headers, 200 without (allow-listed IP or
/// guest), or 401 with none.
pub async fn proxy_auth(
    State(core): State<Arc<Core>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let uri = req.uri();
    let Ok(request) = parse_request(uri.path(), uri.query()) else {
        tracing::debug!(path = uri.path(), "proxy auth: malformed request");
        return status(StatusCode::UNAUTHORIZED);
    };
    let settings = core.settings();
    let ip = client_ip(peer.ip(), req.headers(), &settings.trusted_proxies);

    // The allow list passes without a session, so look at it before any lookup.
    if let Some(allow) = &request.allow {
        if ip_list_contains(allow, ip) == Ok(true) {
            return status(StatusCode::OK);
        }
    }

    let mut session = None;
    for value in cookie_values(req.headers(), &settings.cookie_name).take(2) {
        let Some(hash) = hash_cookie_value(value) else {
            continue;
        };
        if let Some(view) = core.session(&hash).await {
            session = Some(view);
            break;
        }
    }
    let session = session.filter(|s| s.expires_at > now());

    match decide(&request, ip, session.as_deref()) {
        Decision::PassUser => {
            let s = session.expect("PassUser implies a session");
            s.touch(now());
            let mut r = status(StatusCode::OK);
            let h = r.headers_mut();
            h.insert(X_ORGANIZR_USER.clone(), s.headers.user.clone());
            h.insert(X_ORGANIZR_EMAIL.clone(), s.headers.email.clone());
            h.insert(X_ORGANIZR_GROUP.clone(), s.headers.group_id.clone());
            h.insert(REMOTE_USER.clone(), s.headers.user.clone());
            h.insert(REMOTE_EMAIL.clone(), s.headers.email.clone());
            h.insert(REMOTE_GROUPS.clone(), s.headers.group_name.clone());
            h.insert(REMOTE_NAME.clone(), s.headers.user.clone());
            r
        }
        Decision::PassAnonymous => status(StatusCode::OK),
        Decision::Refuse => status(StatusCode::UNAUTHORIZED),
    }
}
