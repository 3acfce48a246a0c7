//! Request extractors: the client, the signed-in person, an admin, and JSON bodies that fail
//! with the API's error shape.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};

use super::client_ip::client_ip;
use super::cookies::cookie_values;
use super::error::ApiError;
use super::headers::RequestHeaders;
use crate::auth::{AuthError, ClientInfo};
use crate::core::Core;
use crate::domain::session::{hash_cookie_value, TokenHash};
use crate::domain::SessionView;

/// The socket peer of a request (loopback when the server did not record it, as in router tests).
pub fn peer_of(parts: &Parts) -> std::net::IpAddr {
    peer_in(&parts.extensions)
}

/// [`peer_of`] for a whole request's extensions (middleware sees a `Request`, not `Parts`).
pub fn peer_in(extensions: &axum::http::Extensions) -> std::net::IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))
}

/// Resolves the client of a request (IP through trusted proxies only, user agent).
pub fn client_of(parts: &Parts, core: &Core) -> ClientInfo {
    let peer = peer_of(parts);
    let ip = client_ip(peer, &parts.headers, &core.settings().trusted_proxies);
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    ClientInfo { ip, user_agent }
}

/// The client of this request.
pub struct Client(pub ClientInfo);

impl FromRequestParts<Arc<Core>> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, ApiError> {
        Ok(Client(client_of(parts, core)))
    }
}

/// The socket peer of this request (see [`peer_of`]).
pub struct Peer(pub std::net::IpAddr);

impl FromRequestParts<Arc<Core>> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<Core>) -> Result<Self, ApiError> {
        Ok(Peer(peer_of(parts)))
    }
}

/// The signed-in person making this request.
pub struct SignedIn {
    pub view: Arc<SessionView>,
    pub hash: TokenHash,
}

/// Finds the session of a request, if any (pages: a store that does not answer counts as
/// nobody signed in there, and anything they then do that needs the store answers 503).
pub async fn session_of(parts: &Parts, core: &Core) -> Option<SignedIn> {
    let settings = core.settings();
    session_in(&parts.headers, &settings.cookie_name, core)
        .await
        .ok()
        .flatten()
}

/// More session cookies than a browser keeps for Usher (host-only, `cookie_domain`, and one
/// left from a former `cookie_domain`).
const MAX_SESSION_COOKIES: usize = 3;

/// The session the request's session cookies name. A browser may send the cookie more than
/// once: host-only and domain cookies, or one a sibling subdomain planted under `cookie_domain`
/// with a longer path (sent first). When valid ones belong to different people, or there are
/// more than [`MAX_SESSION_COOKIES`], nobody is signed in: Usher never picks one of two
/// identities (docs/security.md). One cookie costs what it always did. `Err(StoreDown)` when a
/// cookie's session is not cached and the store does not answer.
pub async fn session_in<H: RequestHeaders + ?Sized>(
    headers: &H,
    cookie_name: &str,
    core: &Core,
) -> Result<Option<SignedIn>, AuthError> {
    let mut found: Option<SignedIn> = None;
    for (i, value) in cookie_values(headers, cookie_name).enumerate() {
        if i == MAX_SESSION_COOKIES {
            return Ok(None);
        }
        let Some(hash) = hash_cookie_value(value) else {
            continue;
        };
        let Some(view) = core.session(&hash).await? else {
            continue;
        };
        match &found {
            None => found = Some(SignedIn { view, hash }),
            Some(first) if first.view.user_id == view.user_id => {}
            Some(_) => return Ok(None),
        }
    }
    Ok(found)
}

impl FromRequestParts<Arc<Core>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, ApiError> {
        let settings = core.settings();
        match session_in(&parts.headers, &settings.cookie_name, core).await? {
            Some(s) if !s.view.locked => Ok(s),
            Some(_) => Err(ApiError::from(crate::auth::AuthError::Locked)),
            None => Err(ApiError::unauthenticated()),
        }
    }
}

/// A signed-in administrator (group 0 or 1).
pub struct Admin(pub SignedIn);

impl FromRequestParts<Arc<Core>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, ApiError> {
        let s = SignedIn::from_request_parts(parts, core).await?;
        if !crate::auth::accounts::can_administer(s.view.group_id) {
            return Err(ApiError::forbidden(
                "only administrators (group 0 or 1) may do this",
            ));
        }
        Ok(Admin(s))
    }
}

/// A signed-in Admin (group 0): what a Co-Admin may not do, such as the routes that send a stored
/// secret to an address kept in the settings (Retrieve, Validate, the SSO Test button).
pub struct FullAdmin(pub SignedIn);

impl FromRequestParts<Arc<Core>> for FullAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, ApiError> {
        let Admin(s) = Admin::from_request_parts(parts, core).await?;
        if s.view.group_id != crate::domain::group::ADMIN {
            return Err(ApiError::forbidden(
                "only the Admin (group 0) may do this: it uses a secret stored in the settings",
            ));
        }
        Ok(FullAdmin(s))
    }
}

impl FullAdmin {
    /// The acting identity for account and settings operations.
    pub fn acting(&self, client: &ClientInfo) -> crate::auth::accounts::Acting {
        self.0.acting(client)
    }
}

impl SignedIn {
    /// The acting identity for account operations (its group decides whom it may manage).
    pub fn acting(&self, client: &ClientInfo) -> crate::auth::accounts::Acting {
        crate::auth::accounts::Acting {
            actor: crate::store::Actor {
                user_id: Some(self.view.user_id),
                ip: Some(client.ip.to_string()),
            },
            group: Some(self.view.group_id),
        }
    }
}

impl Admin {
    /// The acting identity for account operations.
    pub fn acting(&self, client: &ClientInfo) -> crate::auth::accounts::Acting {
        self.0.acting(client)
    }
}

/// A JSON body; every failure is a JSON error (400/413/415).
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequest<Arc<Core>> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<Core>) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// A path parameter; a malformed one (`/users/abc`) is a JSON 400 like every other API error.
pub struct ApiPath<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<Arc<Core>> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<Core>) -> Result<Self, ApiError> {
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(v))
    }
}
