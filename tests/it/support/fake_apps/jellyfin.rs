//! A fake Jellyfin 12 (spec §10.2): `POST /Users/AuthenticateByName` needs a proper
//! `Authorization: MediaBrowser …` header (legacy `X-Emby-Authorization` alone is ignored, as
//! Jellyfin 12 does by default) and answers the full AuthenticationResult; `GET
//! /System/Info/Public`; `POST /Sessions/Logout`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{random_hex, serve, Running};

/// A Jellyfin account.
#[derive(Debug, Clone)]
pub struct JellyfinUser {
    pub name: String,
    pub password: String,
}

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct JellyfinConfig {
    pub server_id: String,
    pub users: Vec<JellyfinUser>,
}

impl JellyfinConfig {
    /// A server with these users.
    pub fn with_users(users: &[(&str, &str)]) -> JellyfinConfig {
        JellyfinConfig {
            server_id: random_hex(16),
            users: users
                .iter()
                .map(|(n, p)| JellyfinUser {
                    name: n.to_string(),
                    password: p.to_string(),
                })
                .collect(),
        }
    }
}

/// A running fake Jellyfin.
pub struct FakeJellyfin {
    pub server: Running,
    pub config: JellyfinConfig,
}

impl FakeJellyfin {
    /// Starts it on 127.0.0.1:0.
    pub async fn start(cfg: JellyfinConfig) -> FakeJellyfin {
        let router = Router::new()
            .route("/Users/AuthenticateByName", post(authenticate))
            .route("/System/Info/Public", get(info))
            .route(
                "/Sessions/Logout",
                post(|| async { StatusCode::NO_CONTENT }),
            )
            .with_state(Arc::new(cfg.clone()));
        FakeJellyfin {
            server: serve(router).await,
            config: cfg,
        }
    }

    /// The URL Usher is configured with.
    pub fn base_url(&self) -> String {
        self.server.url("")
    }

    /// The stable user id the fake gives `name`.
    pub fn user_id(name: &str) -> String {
        format!("{:0>32}", hex::encode(name.as_bytes()))
    }
}

async fn authenticate(
    State(cfg): State<Arc<JellyfinConfig>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let proper = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("MediaBrowser ") && v.contains("DeviceId=\""));
    if !proper {
        return (
            StatusCode::BAD_REQUEST,
            "Authorization header missing or not MediaBrowser",
        )
            .into_response();
    }
    let name = body["Username"].as_str().unwrap_or_default();
    let pw = body["Pw"].as_str().unwrap_or_default();
    let Some(user) = cfg
        .users
        .iter()
        .find(|u| u.name.eq_ignore_ascii_case(name) && u.password == pw)
    else {
        return (StatusCode::UNAUTHORIZED, "Error processing request.").into_response();
    };
    let id = FakeJellyfin::user_id(&user.name);
    Json(json!({
        "User": {"Name": user.name, "ServerId": cfg.server_id, "Id": id, "HasPassword": true,
                 "Policy": {"IsAdministrator": false, "IsDisabled": false}},
        "SessionInfo": {"Id": random_hex(16), "UserId": id, "UserName": user.name, "Client": "Usher"},
        "AccessToken": random_hex(16),
        "ServerId": cfg.server_id,
    }))
    .into_response()
}

async fn info(State(cfg): State<Arc<JellyfinConfig>>) -> Json<Value> {
    Json(
        json!({"LocalAddress": "http://127.0.0.1:8096", "ServerName": "den", "Version": "10.11.0",
                "ProductName": "Jellyfin Server", "Id": cfg.server_id, "StartupWizardCompleted": true}),
    )
}
