//! Usher as an OpenID Connect provider (docs/oidc.md): registered clients, the authorization
//! code flow with PKCE, opaque access and refresh tokens kept hashed, RS256 id_tokens.
//!
//! Plain logic: it takes the store, the instance key and the key cache it uses, never the HTTP
//! layer. Every token hangs on the Usher session it came from; whatever ends that session or
//! bars the person (lock, delete, demotion, Plex share ended) ends the tokens at the next use,
//! on every instance, because each use asks the shared store.

pub mod authorize;
pub mod claims;
pub mod clients;
pub mod keys;
pub mod tokens;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::store::StoreError;

/// How long an authorization code may wait for its exchange (seconds).
pub const CODE_SECONDS: i64 = 60;

/// The scopes Usher knows; others are ignored.
pub const SCOPES: &[&str] = &["openid", "profile", "email", "groups", "offline_access"];

/// The claim holding the person's numeric group (0 Admin … 4 User).
pub const GROUP_CLAIM: &str = "usher_group";

/// An OAuth 2.0 / OpenID Connect error with its RFC 6749 code.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("client authentication failed")]
    InvalidClient,
    #[error("{0}")]
    InvalidGrant(&'static str),
    #[error("{0}")]
    UnauthorizedClient(&'static str),
    #[error("only authorization_code and refresh_token are supported")]
    UnsupportedGrantType,
    #[error("only response_type=code is supported")]
    UnsupportedResponseType,
    #[error("{0}")]
    InvalidScope(&'static str),
    #[error("{0}")]
    AccessDenied(&'static str),
    #[error("no Usher session and prompt=none")]
    LoginRequired,
    #[error("the access token is not valid")]
    InvalidToken,
    #[error("OpenID Connect is off: set public_url")]
    NotConfigured,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Server(String),
}

impl OidcError {
    /// The `error` value of RFC 6749 §4.1.2.1 / §5.2 (and OpenID Connect Core §3.1.2.6).
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::InvalidRequest(_) => "invalid_request",
            OidcError::InvalidClient => "invalid_client",
            OidcError::InvalidGrant(_) => "invalid_grant",
            OidcError::UnauthorizedClient(_) => "unauthorized_client",
            OidcError::UnsupportedGrantType => "unsupported_grant_type",
            OidcError::UnsupportedResponseType => "unsupported_response_type",
            OidcError::InvalidScope(_) => "invalid_scope",
            OidcError::AccessDenied(_) => "access_denied",
            OidcError::LoginRequired => "login_required",
            OidcError::InvalidToken => "invalid_token",
            OidcError::NotConfigured => "not_configured",
            OidcError::Store(e) if e.is_unavailable() => "temporarily_unavailable",
            OidcError::Store(_) | OidcError::Server(_) => "server_error",
        }
    }

    /// What may be told to the client: never a store's detail.
    pub fn description(&self) -> String {
        match self {
            OidcError::Store(_) | OidcError::Server(_) => "the server could not answer".into(),
            other => other.to_string(),
        }
    }
}

/// A random value handed out once (code, token, secret): 256 bits, base64url.
pub fn random_value() -> String {
    crate::crypto::random_token(32)
}

/// Hex SHA-256 of a value handed out, as stored.
pub fn hash_value(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The PKCE S256 transform: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    B64URL.encode(Sha256::digest(verifier.as_bytes()))
}

/// True for a PKCE verifier or challenge: 43 to 128 unreserved characters (RFC 7636 §4.1).
pub fn is_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The known scopes of a request, in a fixed order, space-separated.
pub fn known_scopes(requested: &str) -> String {
    let asked: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    SCOPES
        .iter()
        .filter(|s| asked.contains(s))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when a space-separated scope list holds `scope`.
pub fn has_scope(scopes: &str, scope: &str) -> bool {
    scopes.split(' ').any(|s| s == scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_pkce_value(verifier));
        assert!(!is_pkce_value("short"));
    }

    #[test]
    fn scopes_are_filtered_and_ordered() {
        assert_eq!(
            known_scopes("email openid foo  groups"),
            "openid email groups"
        );
        assert!(has_scope("openid offline_access", "offline_access"));
        assert!(!has_scope("openid", "offline"));
    }
}
