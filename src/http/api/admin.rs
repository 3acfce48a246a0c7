//! Administration (groups 0 and 1): users, groups, everyone's sessions.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::no_content;
use crate::audit::AuditFilter;
use crate::auth::accounts::{
    managed_session, managed_sessions, managed_user, CreateUser, EditUser,
};
use crate::core::Core;
use crate::domain::{GroupId, UserId};
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson, ApiPath, Client};

/// Body of `POST /api/v2/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    pub username: String,
    pub email: Option<String>,
    pub password: Option<String>,
    #[serde(alias = "group")]
    pub group_id: Option<GroupId>,
    /// Give the account a retired name (of a deleted or renamed account) on purpose.
    #[serde(default)]
    pub reuse_retired_name: bool,
}

/// Body of `PATCH /api/v2/users/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditUserBody {
    pub username: Option<String>,
    pub email: Option<String>,
    #[serde(alias = "group")]
    pub group_id: Option<GroupId>,
    pub password: Option<String>,
    pub locked: Option<bool>,
    /// With `username`: give the account a retired name on purpose.
    #[serde(default)]
    pub reuse_retired_name: bool,
}

/// `GET /api/v2/users`.
pub async fn list_users(State(core): State<Arc<Core>>, _: Admin) -> Result<Response, ApiError> {
    let users = core
        .store
        .list_users()
        .await
        .map_err(crate::auth::AuthError::from)?;
    Ok(Json(json!({ "users": users })).into_response())
}

/// `POST /api/v2/users`.
pub async fn create_user(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiJson(body): ApiJson<CreateUserBody>,
) -> Result<Response, ApiError> {
    let req = CreateUser {
        username: body.username,
        email: body.email,
        password: body.password,
        group_id: body.group_id,
        reuse_retired_name: body.reuse_retired_name,
    };
    let user = core.create_user(req, &admin.acting(&client)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": user }))).into_response())
}

/// `GET /api/v2/users/{id}`.
pub async fn get_user(
    State(core): State<Arc<Core>>,
    _: Admin,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Response, ApiError> {
    let user = core
        .store
        .get_user(id)
        .await
        .map_err(crate::auth::AuthError::from)?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(json!({ "user": user })).into_response())
}

/// `PATCH /api/v2/users/{id}`.
pub async fn edit_user(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(body): ApiJson<EditUserBody>,
) -> Result<Response, ApiError> {
    let req = EditUser {
        username: body.username,
        email: body.email,
        group_id: body.group_id,
        password: body.password,
        locked: body.locked,
        reuse_retired_name: body.reuse_retired_name,
    };
    let user = core.edit_user(id, req, &admin.acting(&client)).await?;
    Ok(Json(json!({ "user": user })).into_response())
}

async fn set_locked(
    core: &Core,
    client: &crate::auth::ClientInfo,
    admin: &Admin,
    id: UserId,
    locked: bool,
) -> Result<Response, ApiError> {
    let req = EditUser {
        locked: Some(locked),
        ..Default::default()
    };
    let user = core.edit_user(id, req, &admin.acting(client)).await?;
    Ok(Json(json!({ "user": user })).into_response())
}

/// `POST /api/v2/users/{id}/lock`.
pub async fn lock_user(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Response, ApiError> {
    set_locked(&core, &client, &admin, id, true).await
}

/// `POST /api/v2/users/{id}/unlock`.
pub async fn unlock_user(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Response, ApiError> {
    set_locked(&core, &client, &admin, id, false).await
}

/// `DELETE /api/v2/users/{id}`.
pub async fn delete_user(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Response, ApiError> {
    core.delete_user(id, &admin.acting(&client)).await?;
    Ok(no_content())
}

/// `GET /api/v2/users/{id}/sessions`: only of someone the admin may manage (404 for an id that
/// names no user, so a typo is not mistaken for "no sessions").
pub async fn user_sessions(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Response, ApiError> {
    managed_user(&core.store, id, &admin.acting(&client)).await?;
    let sessions = core.sessions_of(Some(id)).await?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

/// `DELETE /api/v2/users/{id}/sessions`: sign a user the admin may manage out everywhere.
pub async fn revoke_user_sessions(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Response, ApiError> {
    let acting = admin.acting(&client);
    managed_user(&core.store, id, &acting).await?;
    let n = core.revoke_user_sessions(id, None, &acting.actor).await?;
    Ok(Json(json!({ "revoked": n })).into_response())
}

/// `GET /api/v2/groups`.
pub async fn list_groups(State(core): State<Arc<Core>>, _: Admin) -> Result<Response, ApiError> {
    let groups = core
        .store
        .list_groups()
        .await
        .map_err(crate::auth::AuthError::from)?;
    Ok(Json(json!({ "groups": groups })).into_response())
}

/// `GET /api/v2/sessions`: every live session of someone the admin may manage.
pub async fn list_sessions(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
) -> Result<Response, ApiError> {
    let sessions = managed_sessions(&core.store, &admin.acting(&client)).await?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

/// `DELETE /api/v2/sessions/{id}`: a session of someone the admin may manage.
pub async fn revoke_session(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let acting = admin.acting(&client);
    let session = managed_session(&core.store, id, &acting).await?;
    // With its owner: a session that is not (or no longer) theirs is left alone.
    core.revoke_session(id, Some(session.user_id), &acting.actor)
        .await?;
    Ok(no_content())
}

/// `GET /api/v2/audit?person=&action=&since=&until=&offset=&limit=`: audit entries, newest
/// first, with the number that match and where the next page starts (`null` on the last).
pub async fn audit(
    State(core): State<Arc<Core>>,
    admin: Admin,
    filter: Result<Query<AuditFilter>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(filter) = filter
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", e.body_text()))?;
    let query = core.audit_query(&filter, admin.0.view.group_id).await?;
    let page = core
        .store
        .query_audit(&query)
        .await
        .map_err(crate::auth::AuthError::from)?;
    let shown = query.offset + page.entries.len() as i64;
    let next = (shown < page.total).then_some(shown);
    Ok(Json(json!({
        "entries": page.entries,
        "total": page.total,
        "offset": query.offset,
        "limit": query.limit,
        "next_offset": next,
    }))
    .into_response())
}
