//! Single sign-on endpoints: the portal's hand-over of localStorage items (`launch`), refresh,
//! the debug area, and the admin's Test button.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

use super::with_cookies;
use crate::auth::accounts::can_administer;
use crate::auth::AuthError;
use crate::core::Core;
use crate::http::cookies;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, FullAdmin, SignedIn};
use crate::sso::plan::APPS;
use crate::sso::{Identity, Outcome};

/// `GET /api/v2/sso/launch`: the localStorage items of this session's SSOs (Plex Web's
/// `myPlexAccessToken`, Ombi's `id_token`, Jellyfin's credentials), for the portal page on
/// Usher's own origin to write. Same-origin JSON only; never in a cookie.
pub async fn launch(State(core): State<Arc<Core>>, me: SignedIn) -> Response {
    let storage = core.sso_storage(&me.hash).await;
    let refresh_due = core.sso_refresh_due(&me.hash).await;
    Json(json!({ "storage": storage, "refresh_due": refresh_due })).into_response()
}

/// `POST /api/v2/sso/refresh`: signs this session into its apps again (with the Plex token, the
/// only credential Usher keeps) and sets the new cookies.
pub async fn refresh(State(core): State<Arc<Core>>, me: SignedIn) -> Result<Response, ApiError> {
    let user = user_of(&core, me.view.user_id).await?;
    let planned = core
        .sso_refresh(&me.hash, &user, me.view.session_id)
        .await?;
    let settings = core.settings().clone();
    let set = planned
        .iter()
        .filter_map(|c| cookies::app_cookie(&settings, c))
        .collect();
    let storage = core.sso_storage(&me.hash).await;
    let records = core
        .store
        .session_sso(&crate::domain::session::hash_hex(&me.hash))
        .await
        .map_err(AuthError::from)?;
    let resp = Json(json!({ "apps": records, "storage": storage })).into_response();
    Ok(with_cookies(resp, set))
}

/// Query of the debug area.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugQuery {
    /// Another user's id (admins only).
    pub user: Option<i64>,
}

/// `GET /api/v2/sso/debug[?user=ID]`: the seed's checks per app, the last outcome and a hint.
pub async fn debug(
    State(core): State<Arc<Core>>,
    me: SignedIn,
    headers: HeaderMap,
    query: Result<Query<DebugQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Ok(Query(q)) = query else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "the only parameter is user=<id>",
        ));
    };
    let target = q.user.unwrap_or(me.view.user_id);
    let own = target == me.view.user_id;
    if !own && !can_administer(me.view.group_id) {
        return Err(ApiError::forbidden(
            "only administrators may look at someone else's SSO",
        ));
    }
    let user = user_of(&core, target).await?;
    if !own && !crate::domain::group::may_manage(me.view.group_id, user.group_id) {
        return Err(ApiError::forbidden(
            "a Co-Admin may not look at the Admin's SSO",
        ));
    }
    let rows = core
        .sso_debug(&user, own.then_some((&me.hash, &headers)))
        .await?;
    Ok(Json(json!({ "user": user.username, "apps": rows })).into_response())
}

/// Body of the admin's Test button.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub plex_token: Option<String>,
    /// The Plex account id to look the person up by (Tautulli's user list).
    #[serde(default)]
    pub plex_id: Option<i64>,
}

/// `POST /api/v2/sso/test/{app}`: tries one app with the given credentials; nobody is signed
/// in and nothing is stored. Answers what each instance did (never a cookie value). Admin (group
/// 0) only: it sends the stored API keys and fallback passwords to the apps' addresses.
pub async fn test(
    State(core): State<Arc<Core>>,
    _: FullAdmin,
    ApiPath(app): ApiPath<String>,
    ApiJson(body): ApiJson<TestBody>,
) -> Result<Response, ApiError> {
    if !APPS.contains(&app.as_str()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no SSO app {app:?}; known: {}", APPS.join(", ")),
        ));
    }
    let identity = Identity {
        username: body.username,
        email: body.email,
        password: body.password.map(SecretString::from),
        plex_token: body.plex_token.map(SecretString::from),
        plex_id: body.plex_id,
    };
    let outcomes = core.sso_test(&app, identity).await;
    let results: Vec<Value> = outcomes.iter().map(outcome_json).collect();
    Ok(Json(json!({ "app": app, "results": results })).into_response())
}

fn outcome_json(o: &Outcome) -> Value {
    match &o.result {
        Ok(grant) => json!({
            "instance": o.instance,
            "ok": true,
            "elapsed_ms": o.elapsed.as_millis() as u64,
            "used_fallback": grant.used_fallback,
            "cookies": grant.cookies.iter().map(|c| json!({"name": c.name, "path": c.path, "domain": c.domain})).collect::<Vec<_>>(),
            "storage_keys": grant.storage.iter().map(|s| s.key.clone()).collect::<Vec<_>>(),
        }),
        Err(e) => json!({
            "instance": o.instance,
            "ok": false,
            "elapsed_ms": o.elapsed.as_millis() as u64,
            "error": {"code": e.code(), "message": e.to_string()},
        }),
    }
}

async fn user_of(core: &Core, id: i64) -> Result<crate::domain::User, ApiError> {
    core.store
        .get_user(id)
        .await
        .map_err(AuthError::from)?
        .ok_or_else(ApiError::not_found)
}
