//! Sign-in, sign-out, and the signed-in person's own account and sessions.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{no_content, request_host, with_cookies};
use crate::auth::PasswordLogin;
use crate::core::Core;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, Client, SignedIn};
use crate::http::redirect::safe_redirect;
use crate::http::signin::{sign_in_cookies, sign_out};

/// Body of `POST /api/v2/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Username or email (Organizr sends `username` for both).
    #[serde(alias = "email", alias = "login")]
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub remember: bool,
    /// Where to go afterwards (checked against the redirect allow-list).
    #[serde(default, alias = "return")]
    pub rd: Option<String>,
    /// Plex two-factor code, sent again with the password after `two_factor_required`.
    #[serde(default, alias = "tfaCode")]
    pub code: Option<String>,
}

/// `POST /api/v2/login`.
pub async fn login(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let password = secrecy::SecretString::from(body.password.clone());
    let attempt = PasswordLogin {
        login: body.username,
        password: body.password,
        remember: body.remember,
        code: body.code,
    };
    let signed_in = core.login(attempt, &client).await?;
    let set = {
        use secrecy::ExposeSecret;
        sign_in_cookies(&core, &signed_in, Some(password.expose_secret())).await
    };
    let redirect = {
        let settings = core.settings();
        safe_redirect(body.rd.as_deref(), &settings, request_host(&headers))
    };
    let redirect = crate::http::views::sso::after_sign_in(&core, &signed_in, redirect).await;
    let enrol = core.enrol_first(&signed_in).await?;
    let resp = Json(json!({
        "user": signed_in.user,
        "expires_at": signed_in.expires_at,
        "redirect": enrol.map(str::to_string).unwrap_or(redirect),
        "two_factor_setup_required": enrol.is_some(),
    }))
    .into_response();
    Ok(with_cookies(resp, set))
}

/// `POST|GET /api/v2/logout`: ends this session and clears the cookie (also without a session).
pub async fn logout(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let (set, storage_keys) = sign_out(&core, &parts, &client).await?;
    // The page removes these localStorage items (Plex, Ombi, Jellyfin on Usher's own origin).
    let resp = Json(json!({"signed_out": true, "clear_storage": storage_keys})).into_response();
    Ok(with_cookies(resp, set))
}

/// `GET /api/v2/me`: who I am, my group, my sessions.
pub async fn me(State(core): State<Arc<Core>>, me: SignedIn) -> Result<Response, ApiError> {
    let user = core
        .store
        .get_user(me.view.user_id)
        .await
        .map_err(crate::auth::AuthError::from)?
        .ok_or_else(ApiError::unauthenticated)?;
    let sessions = core.sessions_of(Some(me.view.user_id)).await?;
    let sessions: Vec<_> = sessions
        .into_iter()
        .map(|s| {
            let current = s.id == me.view.session_id;
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            v["current"] = json!(current);
            v
        })
        .collect();
    Ok(Json(json!({
        "user": user,
        "group": {"id": user.group_id, "name": user.group_name},
        "is_admin": crate::auth::accounts::can_administer(user.group_id),
        "sessions": sessions,
    }))
    .into_response())
}

/// `DELETE /api/v2/me/sessions/{id}`: revoke one of my sessions.
pub async fn revoke_my_session(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    me: SignedIn,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let actor = crate::store::Actor {
        user_id: Some(me.view.user_id),
        ip: Some(client.ip.to_string()),
    };
    core.revoke_session(id, Some(me.view.user_id), &actor)
        .await?;
    Ok(no_content())
}

/// `DELETE /api/v2/me/sessions`: sign out everywhere except this session.
pub async fn revoke_my_other_sessions(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    me: SignedIn,
) -> Result<Response, ApiError> {
    let actor = crate::store::Actor {
        user_id: Some(me.view.user_id),
        ip: Some(client.ip.to_string()),
    };
    let n = core
        .revoke_user_sessions(me.view.user_id, Some(me.view.session_id), &actor)
        .await?;
    Ok(Json(json!({ "revoked": n })).into_response())
}

/// Body of `POST /api/v2/me/password`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub current_password: String,
    pub password: String,
}

/// `POST /api/v2/me/password`: change my password (the current one required); my other
/// sessions end, this one stays.
pub async fn change_my_password(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    me: SignedIn,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Response, ApiError> {
    core.change_own_password(
        me.view.user_id,
        me.view.session_id,
        &body.current_password,
        body.password,
        &client,
    )
    .await?;
    Ok(no_content())
}

/// `GET /healthz`: 200 when the store (database) answers; 503 "store down" when it does not,
/// so a load balancer stops sending new sign-ins here (cached sessions still pass proxy-auth).
pub async fn healthz(State(core): State<Arc<Core>>) -> Response {
    let store = match core.store.backend() {
        crate::store::Backend::Sqlite => "SQLite",
        crate::store::Backend::Postgres => "PostgreSQL",
    };
    let down = |message: String| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            message,
        )
        .into_response()
    };
    match core.store.latest_change_id().await {
        // Back, but changes made meanwhile (a revoke) are not applied yet.
        Ok(_) if core.feed_behind() => down(format!(
            "store down: the {store} database answers again; catching up with changes made meanwhile"
        )),
        Ok(_) => Json(json!({"status": "ok", "store": "up"})).into_response(),
        Err(e) => {
            core.store_went_away();
            tracing::error!(error = %e, "health check: store down");
            down(format!("store down: the {store} database does not answer"))
        }
    }
}
