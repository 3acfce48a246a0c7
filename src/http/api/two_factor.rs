//! Two-factor sign-in from the person's profile (turn on, confirm, turn off) and an
//! administrator's reset. The logic lives in `auth::two_factor`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::no_content;
use crate::core::Core;
use crate::domain::UserId;
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson, ApiPath, Client, SignedIn};

/// Body of `POST /api/v2/me/two-factor`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeginBody {
    pub password: String,
}

/// Body of `POST /api/v2/me/two-factor/confirm`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    pub code: String,
}

/// Body of `DELETE /api/v2/me/two-factor`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisableBody {
    pub password: String,
    pub code: String,
}

/// `POST /api/v2/me/two-factor`: a new secret, its otpauth URI and QR code; pending until
/// confirmed.
pub async fn begin(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    me: SignedIn,
    ApiJson(body): ApiJson<BeginBody>,
) -> Result<Response, ApiError> {
    let enrolment = core
        .begin_two_factor(me.view.user_id, &body.password, &client)
        .await?;
    Ok(Json(enrolment).into_response())
}

/// `POST /api/v2/me/two-factor/confirm`: the first code turns it on; the recovery codes are
/// in this answer only.
pub async fn confirm(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    me: SignedIn,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<Response, ApiError> {
    let codes = core
        .confirm_two_factor(me.view.user_id, &body.code, &client)
        .await?;
    Ok(Json(json!({ "recovery_codes": codes })).into_response())
}

/// `DELETE /api/v2/me/two-factor`: turns it off (password and a current code required).
pub async fn disable(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    me: SignedIn,
    ApiJson(body): ApiJson<DisableBody>,
) -> Result<Response, ApiError> {
    core.disable_two_factor(me.view.user_id, &body.password, &body.code, &client)
        .await?;
    Ok(no_content())
}

/// `DELETE /api/v2/users/{id}/two-factor`: an administrator turns someone's two-factor off.
pub async fn reset(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Response, ApiError> {
    core.reset_two_factor(id, &admin.acting(&client)).await?;
    Ok(no_content())
}
