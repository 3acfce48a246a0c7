//! The admin's "Retrieve" buttons as API: get the server owner's Plex token through the PIN flow
//! and save it (`plex.token`), list the owner's servers to choose the Plex Machine, and check that
//! the saved token and machine belong together. Admin (group 0) only: each sends the owner's token
//! to `plex.tv_url`, and a Co-Admin may not change what these read or write.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::plex::{begin, clear_pending, is_final, pending_for};
use super::with_cookies;
use crate::auth::plex::pin::{PendingPin, PinProgress, PinPurpose};
use crate::auth::AuthError;
use crate::core::Core;
use crate::http::error::ApiError;
use crate::http::extract::{ApiPath, Client, FullAdmin};
use crate::plex::{PlexError, PlexServer};

/// `POST /api/v2/plex/admin/pin`: starts the PIN flow that retrieves the owner's token.
pub async fn start_owner_pin(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: FullAdmin,
) -> Result<Response, ApiError> {
    let pending = PendingPin {
        pin_id: 0,
        purpose: PinPurpose::OwnerToken,
        expires_at: 0,
        rd: None,
        remember: false,
        started_by: Some(admin.0.view.user_id),
    };
    let (started, cookie) = begin(&core, &client, pending, None).await?;
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

/// `GET /api/v2/plex/admin/pin/{id}`: 202 while pending; once approved, saves the token as
/// `plex.token` and answers 200 with the Plex account it belongs to.
pub async fn poll_owner_pin(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: FullAdmin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let pending = pending_for(&core, &headers, id, PinPurpose::OwnerToken)
        .ok()
        .filter(|p| p.started_by == Some(admin.0.view.user_id))
        .ok_or(AuthError::PinNotFound)?;
    let token = match core.poll_pin(&pending).await {
        Ok(PinProgress::Pending) => {
            return Ok((StatusCode::ACCEPTED, Json(json!({"status": "pending"}))).into_response())
        }
        Ok(PinProgress::Approved(token)) => token,
        Err(e) if is_final(&e) => {
            let resp = ApiError::from(e).into_response();
            return Ok(with_cookies(resp, vec![clear_pending(&core)]));
        }
        Err(e) => return Err(e.into()),
    };
    let account = core
        .plex_client()?
        .account(&token)
        .await
        .map_err(AuthError::Plex)?;
    let mut patch = Map::new();
    patch.insert(
        "plex.token".into(),
        Value::String(token.expose().to_string()),
    );
    if let Err(fields) = core.update_settings(&patch, &admin.acting(&client)).await? {
        return Err(
            AuthError::Internal(format!("the token could not be saved: {fields:?}")).into(),
        );
    }
    tracing::info!(plex_user = %account.display_name(), plex_id = account.id, "server owner's Plex token retrieved and saved");
    let resp = Json(json!({
        "status": "saved",
        "account": {"id": account.id, "username": account.username, "email": account.email},
    }))
    .into_response();
    Ok(with_cookies(resp, vec![clear_pending(&core)]))
}

/// `?owned=1` keeps only the servers the token's account owns.
#[derive(Debug, Deserialize)]
pub struct ServersQuery {
    #[serde(default)]
    owned: Option<String>,
}

fn server_json(s: &PlexServer) -> Value {
    json!({
        "name": s.name,
        "machine_id": s.machine_identifier,
        "owned": s.owned,
        "owner": s.source_title,
        "version": s.version,
        "online": s.presence,
    })
}

/// The saved token's servers (`/api/v2/resources`, falling back to `/pms/servers`).
async fn owner_servers(core: &Core) -> Result<Vec<PlexServer>, AuthError> {
    let token = core.owner_token()?;
    core.plex_client()?
        .servers(&token)
        .await
        .map_err(|e| match e {
            PlexError::TokenInvalid => AuthError::PlexAdminTokenInvalid,
            e => AuthError::Plex(e),
        })
}

/// `GET /api/v2/plex/servers`: the servers to choose the Plex Machine from.
pub async fn list_servers(
    State(core): State<Arc<Core>>,
    _: FullAdmin,
    Query(q): Query<ServersQuery>,
) -> Result<Response, ApiError> {
    let owned_only = q.owned.is_some_and(|v| v != "0" && v != "false");
    let servers: Vec<Value> = owner_servers(&core)
        .await?
        .iter()
        .filter(|s| s.owned || !owned_only)
        .map(server_json)
        .collect();
    Ok(Json(json!({ "servers": servers })).into_response())
}

/// `GET /api/v2/plex/validate`: does the saved token work, and is the Plex Machine one of its
/// owner's servers?
pub async fn validate(State(core): State<Arc<Core>>, _: FullAdmin) -> Result<Response, ApiError> {
    let token = core.owner_token()?;
    let account = core
        .plex_client()?
        .account(&token)
        .await
        .map_err(|e| match e {
            PlexError::TokenInvalid => AuthError::PlexAdminTokenInvalid,
            e => AuthError::Plex(e),
        })?;
    let machine_id = core.settings().plex.machine_id.clone();
    let servers = owner_servers(&core).await?;
    let machine = machine_id.as_deref().and_then(|m| {
        servers
            .iter()
            .find(|s| s.machine_identifier.eq_ignore_ascii_case(m))
    });
    let (ok, message) = match (&machine_id, machine) {
        (None, _) => (
            false,
            "the token works, but no Plex Machine is chosen (plex.machine_id)".to_string(),
        ),
        (Some(m), None) => (
            false,
            format!(
                "the token works, but the Plex account {} cannot see the server {m}",
                account.display_name()
            ),
        ),
        (Some(_), Some(s)) if !s.owned => (
            false,
            format!(
                "the server {} is shared with {}, not owned by it: use the owner's token",
                s.name,
                account.display_name()
            ),
        ),
        (Some(_), Some(s)) => (
            true,
            format!(
                "the token belongs to {}, who owns {}",
                account.display_name(),
                s.name
            ),
        ),
    };
    Ok(Json(json!({
        "ok": ok,
        "message": message,
        "account": {"id": account.id, "username": account.username, "email": account.email},
        "machine": machine.map(server_json),
    }))
    .into_response())
}
