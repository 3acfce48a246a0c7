//! The JSON API under `/api/v2`.

pub mod account;
pub mod admin;
pub mod groups;
pub mod oidc;
pub mod plex;
pub mod plex_admin;
pub mod settings;
pub mod sso;
pub mod tabs;
pub mod two_factor;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Appends `Set-Cookie` headers to a response.
pub fn with_cookies(mut resp: Response, cookies: Vec<HeaderValue>) -> Response {
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// The `Host` a request came to (for same-host redirects).
pub fn request_host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

/// An empty 204 answer.
pub fn no_content() -> Response {
    axum::http::StatusCode::NO_CONTENT.into_response()
}
