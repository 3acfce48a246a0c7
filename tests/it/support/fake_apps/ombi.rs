//! A fake Ombi (spec §9): `POST /api/v1/Token` (username or email + password; 401 with an empty
//! body otherwise), `POST /api/v1/Token/plextoken` (known Plex tokens only; 400 without one),
//! `GET /api/v1/Status` (200; 401 "Invalid API Key" when a wrong `ApiKey` header is sent).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{random_hex, serve, Running};

/// An Ombi account.
#[derive(Debug, Clone)]
pub struct OmbiUser {
    pub username: String,
    pub email: String,
    pub password: String,
    /// The Plex token that maps to this user (imported from Plex), if any.
    pub plex_token: Option<String>,
}

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct OmbiConfig {
    pub api_key: String,
    pub users: Vec<OmbiUser>,
}

struct Fake {
    cfg: OmbiConfig,
}

/// A running fake Ombi.
pub struct FakeOmbi {
    pub server: Running,
    pub config: OmbiConfig,
}

impl FakeOmbi {
    /// Starts it on 127.0.0.1:0.
    pub async fn start(cfg: OmbiConfig) -> FakeOmbi {
        let fake = Arc::new(Fake { cfg: cfg.clone() });
        let router = Router::new()
            .route("/api/v1/Token", post(token))
            .route("/api/v1/Token/plextoken", post(plex_token))
            .route("/api/v1/Status", get(status))
            .with_state(fake);
        FakeOmbi {
            server: serve(router).await,
            config: cfg,
        }
    }

    /// The URL Usher is configured with.
    pub fn base_url(&self) -> String {
        self.server.url("")
    }
}

/// An Ombi-like JWT for `user` (Ombi's tokens are HS256 JWTs with iss=aud="Ombi").
pub fn jwt_for(user: &str) -> String {
    format!(
        "eyJhbGciOiJIUzI1NiJ9.{}.{}",
        hex::encode(user),
        random_hex(8)
    )
}

fn issued(user: &OmbiUser) -> Response {
    Json(json!({"access_token": jwt_for(&user.username), "expiration": "2099-01-10T17:03:05Z"}))
        .into_response()
}

async fn token(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    // Newtonsoft binds case-insensitively; Usher sends lower camel case like Organizr.
    let login = body["username"].as_str().unwrap_or_default();
    let password = body["password"].as_str().unwrap_or_default();
    let found = fake.cfg.users.iter().find(|u| {
        (u.username.eq_ignore_ascii_case(login) || u.email.eq_ignore_ascii_case(login))
            && u.password == password
    });
    match found {
        Some(u) => issued(u),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn plex_token(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let Some(t) = body["plexToken"].as_str().filter(|t| !t.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "Token was not provided").into_response();
    };
    match fake
        .cfg
        .users
        .iter()
        .find(|u| u.plex_token.as_deref() == Some(t))
    {
        Some(u) => issued(u),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn status(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    match headers.get("apikey").and_then(|v| v.to_str().ok()) {
        Some(k) if k != fake.cfg.api_key => {
            (StatusCode::UNAUTHORIZED, "Invalid API Key").into_response()
        }
        _ => Json(200).into_response(),
    }
}
