//! OpenID Connect clients through the admin API (the Admin only: a client decides who may sign
//! in to an app, and a secret is shown here once). The same rules as `usher oidc client`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::no_content;
use crate::core::Core;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, Client, FullAdmin};
use crate::oidc::clients::{self, ClientError, NewClient};
use crate::store::OidcClientPatch;

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", m),
            ClientError::NotFound(_) => ApiError::not_found(),
            ClientError::Exists(id) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("a client {id:?} already exists"),
            ),
            ClientError::Store(s) => ApiError::from(crate::auth::AuthError::from(s)),
        }
    }
}

/// `GET /api/v2/oidc/clients`.
pub async fn list_clients(
    State(core): State<Arc<Core>>,
    _admin: FullAdmin,
) -> Result<Response, ApiError> {
    let all = core
        .store
        .oidc_clients()
        .await
        .map_err(crate::auth::AuthError::from)?;
    Ok(Json(json!({ "clients": all })).into_response())
}

/// `POST /api/v2/oidc/clients`: 201 with the client and, for a confidential one, its secret.
pub async fn create_client(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: FullAdmin,
    ApiJson(new): ApiJson<NewClient>,
) -> Result<Response, ApiError> {
    let actor = admin.acting(&client).actor;
    let (created, secret) = clients::add(&core.store, new, &actor).await?;
    let body = json!({ "client": created, "client_secret": secret });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v2/oidc/clients/{id}`.
pub async fn get_client(
    State(core): State<Arc<Core>>,
    _admin: FullAdmin,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let c = clients::get(&core.store, &id).await?;
    Ok(Json(json!({ "client": c })).into_response())
}

/// `PATCH /api/v2/oidc/clients/{id}`.
pub async fn edit_client(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: FullAdmin,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<OidcClientPatch>,
) -> Result<Response, ApiError> {
    let actor = admin.acting(&client).actor;
    let c = clients::update(&core.store, &id, patch, &actor).await?;
    Ok(Json(json!({ "client": c })).into_response())
}

/// `DELETE /api/v2/oidc/clients/{id}`: the client and every token it holds.
pub async fn delete_client(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: FullAdmin,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let actor = admin.acting(&client).actor;
    clients::delete(&core.store, &id, &actor).await?;
    Ok(no_content())
}

/// `POST /api/v2/oidc/clients/{id}/secret`: a new secret, shown once.
pub async fn new_secret(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: FullAdmin,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let actor = admin.acting(&client).actor;
    let secret = clients::new_secret(&core.store, &id, &actor).await?;
    Ok(Json(json!({ "client_secret": secret })).into_response())
}
