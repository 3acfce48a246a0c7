//! Group administration (groups 0 and 1): add custom groups, rename, delete, set the default.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::no_content;
use crate::auth::AuthError;
use crate::core::Core;
use crate::domain::tab::FieldError;
use crate::domain::GroupId;
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson, ApiPath, Client};

/// Body of `POST /api/v2/groups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupBody {
    /// 5–997; the lowest free number when absent.
    pub id: Option<GroupId>,
    pub name: String,
}

/// Body of `PATCH /api/v2/groups/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditGroupBody {
    pub name: Option<String>,
    /// Only `true`: there is always exactly one default, so another group is made it instead.
    pub is_default: Option<bool>,
}

/// `POST /api/v2/groups`.
pub async fn create_group(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiJson(body): ApiJson<CreateGroupBody>,
) -> Result<Response, ApiError> {
    let actor = admin.acting(&client).actor;
    let group = core.create_group(body.id, &body.name, &actor).await?;
    Ok((StatusCode::CREATED, Json(json!({ "group": group }))).into_response())
}

/// `PATCH /api/v2/groups/{id}`: rename and/or make it the default. A Co-Admin may not rename the
/// Admin group: its name is what apps read in `Remote-Groups` to decide who is their admin.
pub async fn edit_group(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<GroupId>,
    ApiJson(body): ApiJson<EditGroupBody>,
) -> Result<Response, ApiError> {
    let acting = admin.acting(&client);
    let actor = &acting.actor;
    let mut group = core.group(id).await?;
    acting.may_touch_group(id)?;
    if body.is_default == Some(false) {
        return Err(AuthError::from(FieldError::new(
            "is_default",
            "there is always one default group: make another group the default instead",
        ))
        .into());
    }
    if body.name.is_none() && body.is_default.is_none() {
        return Err(AuthError::from(FieldError::new("name", "nothing to change")).into());
    }
    if let Some(name) = &body.name {
        group = core.rename_group(id, name, actor).await?;
    }
    if body.is_default == Some(true) {
        group = core.set_default_group(id, actor).await?;
    }
    Ok(Json(json!({ "group": group })).into_response())
}

/// `DELETE /api/v2/groups/{id}`: only a custom group with nobody in it.
pub async fn delete_group(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<GroupId>,
) -> Result<Response, ApiError> {
    core.delete_group(id, &admin.acting(&client).actor).await?;
    Ok(no_content())
}
