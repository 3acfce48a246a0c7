//! `GET|PATCH /api/v2/settings`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::core::Core;
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson, Client};

/// Every setting with its metadata; secrets masked.
pub async fn get_settings(State(core): State<Arc<Core>>, _: Admin) -> Response {
    Json(json!({ "settings": core.settings().describe() })).into_response()
}

/// Validates and saves `{ "key": value, … }` all-or-nothing; `null` resets a key. A key the
/// admin's group may not change refuses the whole set (403 naming it); `forgotten` lists the
/// secrets dropped because their app's address changed without them.
pub async fn patch_settings(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    admin: Admin,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> Result<Response, ApiError> {
    if patch.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "no settings given",
        ));
    }
    match core.update_settings(&patch, &admin.acting(&client)).await? {
        Ok(saved) => Ok(Json(json!({
            "settings": core.settings().describe(),
            "forgotten": saved.forgotten,
        }))
        .into_response()),
        Err(fields) => {
            let summary = fields
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let mut e = ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_setting",
                format!("nothing was saved: {summary}"),
            );
            e.fields = Some(fields);
            Err(e)
        }
    }
}
