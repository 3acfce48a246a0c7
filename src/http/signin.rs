//! The two ends every sign-in and sign-out share: a new session gets its cookie plus the cookies
//! of its single sign-ons; an ending session loses both, with the exact attributes they were set
//! with, and the page learns which localStorage items to remove.

use axum::http::request::Parts;
use axum::http::HeaderValue;

use crate::auth::{ClientInfo, SignedIn};
use crate::core::Core;
use crate::http::cookies;
use crate::http::extract::session_of;

/// Runs SSO for a session that just started and returns every `Set-Cookie` to send: the session
/// cookie first, then the apps'. `password` is the one just typed, if any.
pub async fn sign_in_cookies(
    core: &Core,
    signed_in: &SignedIn,
    password: Option<&str>,
) -> Vec<HeaderValue> {
    // Someone who must turn two-factor on first is signed in to Usher only, not to the apps.
    if !matches!(core.enrol_first(signed_in).await, Ok(None)) {
        let settings = core.settings();
        return cookies::set_session(&settings, signed_in.token.expose(), signed_in.max_age);
    }
    let planned = core
        .sso_after_sign_in(
            signed_in.session_id,
            &signed_in.user,
            signed_in.method,
            password,
        )
        .await;
    let settings = core.settings();
    let mut out = cookies::set_session(&settings, signed_in.token.expose(), signed_in.max_age);
    out.extend(
        planned
            .iter()
            .filter_map(|c| cookies::app_cookie(&settings, c)),
    );
    out
}

/// Ends the request's session (if any): the `Set-Cookie` values that clear the session cookie and
/// every app cookie SSO set for it, and the localStorage keys the page should remove.
pub async fn sign_out(
    core: &Core,
    parts: &Parts,
    client: &ClientInfo,
) -> Result<(Vec<HeaderValue>, Vec<String>), crate::auth::AuthError> {
    let settings = core.settings().clone();
    let mut set = cookies::clear_session(&settings);
    let mut storage_keys = Vec::new();
    if let Some(s) = session_of(parts, core).await {
        let sso = core.sso_sign_out(&s.hash).await;
        set.extend(
            sso.cookies
                .iter()
                .filter_map(|c| cookies::clear_app_cookie(&settings, c)),
        );
        storage_keys = sso.storage_keys;
        core.logout(&s.hash, client).await?;
    }
    Ok((set, storage_keys))
}
