//! `GET /metrics`: the Prometheus text, for the clients allowed to read it, and a plain 404 for
//! everyone else (the same answer as for an address Usher does not have).
//!
//! Allowed: a client whose address (resolved through trusted proxies) is itself in
//! `trusted_proxies` — loopback by default — or one sending `Authorization: Bearer <metrics.token>`.
//! Never say why a request was refused, and never log the token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::client_ip::{client_ip, is_trusted};
use super::router::page_not_found;
use crate::core::Core;
use crate::metrics::Metrics;

/// Serves the metrics, or 404 when they are off or the client may not read them.
pub async fn metrics(
    State(core): State<Arc<Core>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let settings = core.settings();
    let readable = method == Method::GET || method == Method::HEAD;
    if !readable || settings.get("metrics.enabled") != Some(&true.into()) {
        return page_not_found();
    }
    let ip = client_ip(peer.ip(), &headers, &settings.trusted_proxies);
    let token = settings.get("metrics.token").and_then(|v| v.as_str());
    if !is_trusted(ip, &settings.trusted_proxies) && !bearer_matches(&headers, token) {
        tracing::debug!(%ip, "metrics: refused");
        return page_not_found();
    }
    let text = core.metrics.render(core.sessions.len());
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(Metrics::CONTENT_TYPE),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        text,
    )
        .into_response()
}

/// True when the request carries `Authorization: Bearer <token>` for a set token. Both sides are
/// hashed first so the comparison takes the same time whatever the lengths.
fn bearer_matches(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return false;
    };
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let given = Sha256::digest(given.trim().as_bytes());
    let wanted = Sha256::digest(token.as_bytes());
    given.ct_eq(&wanted).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn only_the_exact_bearer_token_matches() {
        assert!(bearer_matches(&with_auth("Bearer s3cret"), Some("s3cret")));
        assert!(!bearer_matches(&with_auth("Bearer s3cre"), Some("s3cret")));
        assert!(!bearer_matches(&with_auth("Basic s3cret"), Some("s3cret")));
        assert!(!bearer_matches(&HeaderMap::new(), Some("s3cret")));
        // No token set: a bearer header opens nothing, not even an empty one.
        assert!(!bearer_matches(&with_auth("Bearer "), None));
        assert!(!bearer_matches(&with_auth("Bearer "), Some("")));
    }
}
