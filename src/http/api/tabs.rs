//! Portal tabs: CRUD and order for administrators, and `mine` for whoever is signed in.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::no_content;
use crate::auth::tabs::TabInput;
use crate::core::Core;
use crate::domain::GroupId;
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson, ApiPath, Client, SignedIn};

/// Present-but-null is `Some(None)` (clear), absent is `None` (keep).
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Body of `POST /api/v2/tabs` and `PATCH /api/v2/tabs/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabBody {
    pub name: Option<String>,
    pub url: Option<String>,
    #[serde(default, deserialize_with = "some", alias = "image")]
    pub icon: Option<Option<String>>,
    pub group_id: Option<GroupId>,
    pub group_id_max: Option<GroupId>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "some")]
    pub category: Option<Option<String>>,
    pub enabled: Option<bool>,
}

impl From<TabBody> for TabInput {
    fn from(b: TabBody) -> Self {
        TabInput {
            name: b.name,
            url: b.url,
            icon: b.icon,
            group_id: b.group_id,
            group_id_max: b.group_id_max,
            kind: b.kind,
            category: b.category,
            enabled: b.enabled,
        }
    }
}

/// Body of `POST /api/v2/tabs/order`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    pub ids: Vec<i64>,
}

/// `GET /api/v2/tabs`: every tab, in order.
pub async fn list_tabs(State(core): State<Arc<Core>>, _: Admin) -> Result<Response, ApiError> {
    let tabs = core
        .store
        .list_tabs()
        .await
        .map_err(crate::auth::AuthError::from)?;
    Ok(Json(json!({ "tabs": tabs })).into_response())
}

/// `GET /api/v2/tabs/mine`: the tabs the signed-in person's group sees, in order.
pub async fn my_tabs(State(core): State<Arc<Core>>, me: SignedIn) -> Result<Response, ApiError> {
    let tabs = core.tabs_for(me.view.group_id).await?;
    Ok(Json(json!({ "tabs": tabs })).into_response())
}

/// `POST /api/v2/tabs`.
pub async fn create_tab(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiJson(body): ApiJson<TabBody>,
) -> Result<Response, ApiError> {
    let tab = core
        .create_tab(body.into(), &admin.acting(&client).actor)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "tab": tab }))).into_response())
}

/// `PATCH /api/v2/tabs/{id}`.
pub async fn edit_tab(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TabBody>,
) -> Result<Response, ApiError> {
    let tab = core
        .edit_tab(id, body.into(), &admin.acting(&client).actor)
        .await?;
    Ok(Json(json!({ "tab": tab })).into_response())
}

/// `DELETE /api/v2/tabs/{id}`.
pub async fn delete_tab(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    core.delete_tab(id, &admin.acting(&client).actor).await?;
    Ok(no_content())
}

/// `POST /api/v2/tabs/order`: `{"ids": [...]}` naming every tab once.
pub async fn order_tabs(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiJson(body): ApiJson<OrderBody>,
) -> Result<Response, ApiError> {
    let tabs = core
        .reorder_tabs(&body.ids, &admin.acting(&client).actor)
        .await?;
    Ok(Json(json!({ "tabs": tabs })).into_response())
}
