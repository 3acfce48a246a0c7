//! Sign in with Plex over the JSON API: `POST /api/v2/plex/pin` starts a PIN for this browser,
//! `GET /api/v2/plex/pin/{id}` finishes it (202 pending, 200 signed in, 403 not allowed, 410
//! expired or already used, 404 not this browser's).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{request_host, with_cookies};
use crate::auth::plex::pin::{
    PendingPin, PinPurpose, StartedPin, COOKIE_GRACE_SECONDS, PENDING_COOKIE,
};
use crate::auth::{AuthError, ClientInfo, SignedIn};
use crate::core::Core;
use crate::domain::now;
use crate::http::client_ip::is_trusted;
use crate::http::cookies;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, Client, Peer};
use crate::http::redirect::safe_redirect;

/// Body of `POST /api/v2/plex/pin` (all optional: `{}` is fine).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    /// Where to go after signing in.
    #[serde(default)]
    pub rd: Option<String>,
    #[serde(default)]
    pub remember: bool,
    /// Full-page flow: plex.tv's page sends the browser back to `/plex/return` once approved.
    #[serde(default)]
    pub redirect: bool,
}

/// Refuses the sign-in PIN flow unless Plex OAuth is on (and the backend is in use).
pub(crate) fn require_oauth(core: &Core) -> Result<(), AuthError> {
    if core.settings().plex_oauth_enabled() {
        Ok(())
    } else {
        Err(AuthError::PlexNotConfigured(
            "Sign in with Plex is turned off (settings plex.oauth and auth_type)".into(),
        ))
    }
}

/// Usher's own address as the browser sees it: `public_url`, else the request's host, with
/// `https` only when a trusted proxy (`peer`) says so in `X-Forwarded-Proto`: anyone else could
/// send the header. Behind TLS, set `public_url` (docs/plex.md).
pub(crate) fn own_base(core: &Core, peer: IpAddr, headers: &HeaderMap) -> String {
    let settings = core.settings();
    if let Some(u) = &settings.public_url {
        return u.as_str().trim_end_matches('/').to_string();
    }
    let https = is_trusted(peer, &settings.trusted_proxies) && forwarded_https(headers);
    let scheme = if https { "https" } else { "http" };
    format!(
        "{scheme}://{}",
        request_host(headers).unwrap_or("localhost")
    )
}

/// True when the request carries exactly one `X-Forwarded-Proto`, and it is `https`.
fn forwarded_https(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all("x-forwarded-proto").iter();
    match (values.next(), values.next()) {
        (Some(v), None) => v
            .to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("https")),
        _ => false,
    }
}

/// Starts a PIN and returns it with the cookie that binds it to this browser.
pub(crate) async fn begin(
    core: &Core,
    client: &ClientInfo,
    pending: PendingPin,
    forward_base: Option<String>,
) -> Result<(StartedPin, HeaderValue), AuthError> {
    core.count_pin_start(client.ip).await?;
    let forward = forward_base.map(|base| move |id: i64| format!("{base}/plex/return?pin={id}"));
    let started = core
        .start_pin(
            pending,
            forward
                .as_ref()
                .map(|f| f as &(dyn Fn(i64) -> String + Send + Sync)),
        )
        .await?;
    let max_age = started.pending.expires_at - now() + COOKIE_GRACE_SECONDS;
    let cookie = cookies::set_private(
        &core.settings(),
        PENDING_COOKIE,
        &core.seal_pending(&started.pending),
        max_age,
    );
    Ok((started, cookie))
}

/// The pending PIN this browser holds for `id` and `purpose`, or 404.
pub(crate) fn pending_for(
    core: &Core,
    headers: &HeaderMap,
    id: i64,
    purpose: PinPurpose,
) -> Result<PendingPin, AuthError> {
    cookies::cookie_values(headers, PENDING_COOKIE)
        .filter_map(|v| core.open_pending(v))
        .find(|p| p.pin_id == id && p.purpose == purpose)
        .ok_or(AuthError::PinNotFound)
}

/// Clears the pending cookie.
pub(crate) fn clear_pending(core: &Core) -> HeaderValue {
    cookies::set_private(&core.settings(), PENDING_COOKIE, "", 0)
}

/// Where a sign-in PIN stands for this browser.
pub(crate) enum LoginPinOutcome {
    Pending,
    SignedIn(Box<SignedIn>, Option<String>),
}

/// Polls this browser's sign-in PIN and signs the person in once approved and allowed.
pub(crate) async fn finish_login(
    core: &Core,
    headers: &HeaderMap,
    id: i64,
    client: &ClientInfo,
) -> Result<LoginPinOutcome, AuthError> {
    require_oauth(core)?;
    let pending = pending_for(core, headers, id, PinPurpose::Login)?;
    match core.finish_pin_sign_in(&pending, client).await? {
        None => Ok(LoginPinOutcome::Pending),
        Some(signed_in) => Ok(LoginPinOutcome::SignedIn(Box::new(signed_in), pending.rd)),
    }
}

/// True when a failure ends the PIN for good (its cookie can go).
pub(crate) fn is_final(e: &AuthError) -> bool {
    matches!(
        e,
        AuthError::PinExpired
            | AuthError::PinUsed
            | AuthError::PlexNotAllowed(_)
            | AuthError::Locked
    )
}

/// `POST /api/v2/plex/pin`: `{"id", "auth_url", "expires_at"}` plus the pending cookie.
pub async fn start_pin(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    Peer(peer): Peer,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PinRequest>,
) -> Result<Response, ApiError> {
    require_oauth(&core)?;
    let pending = PendingPin {
        pin_id: 0,
        purpose: PinPurpose::Login,
        expires_at: 0,
        rd: body.rd.filter(|r| !r.is_empty()),
        remember: body.remember,
        started_by: None,
    };
    let forward = body.redirect.then(|| own_base(&core, peer, &headers));
    let (started, cookie) = begin(&core, &client, pending, forward).await?;
    let resp = (
        StatusCode::CREATED,
        Json(json!({
            "id": started.pending.pin_id,
            "auth_url": started.auth_url,
            "expires_at": started.pending.expires_at,
        })),
    )
        .into_response();
    Ok(with_cookies(resp, vec![cookie]))
}

/// `GET /api/v2/plex/pin/{id}`: 202 while pending, 200 + session cookie when signed in.
pub async fn poll_pin(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    match finish_login(&core, &headers, id, &client).await {
        Ok(LoginPinOutcome::Pending) => {
            Ok((StatusCode::ACCEPTED, Json(json!({"status": "pending"}))).into_response())
        }
        Ok(LoginPinOutcome::SignedIn(signed_in, rd)) => {
            let mut set = crate::http::signin::sign_in_cookies(&core, &signed_in, None).await;
            set.push(clear_pending(&core));
            let redirect = {
                let settings = core.settings();
                safe_redirect(rd.as_deref(), &settings, request_host(&headers))
            };
            let redirect =
                crate::http::views::sso::after_sign_in(&core, &signed_in, redirect).await;
            let resp = Json(json!({
                "status": "signed_in",
                "user": signed_in.user,
                "expires_at": signed_in.expires_at,
                "redirect": redirect,
            }))
            .into_response();
            Ok(with_cookies(resp, set))
        }
        Err(e) if is_final(&e) => {
            let resp = ApiError::from(e).into_response();
            Ok(with_cookies(resp, vec![clear_pending(&core)]))
        }
        Err(e) => Err(e.into()),
    }
}
