//! A fake Overseerr (spec §10.1): `POST /api/v1/auth/plex` and `/api/v1/auth/local` (200 + the
//! express-session cookie `connect.sid=s%3A…`, or 403 "Access denied."), `GET /api/v1/auth/me`
//! (by that cookie), `GET /api/v1/status` (public), `GET /api/v1/settings/main` (X-Api-Key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{random_hex, request_cookie, serve, Running};

/// An Overseerr account.
#[derive(Debug, Clone)]
pub struct OverseerrUser {
    pub id: i64,
    pub email: String,
    pub password: String,
    pub plex_token: Option<String>,
}

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct OverseerrConfig {
    pub api_key: String,
    pub users: Vec<OverseerrUser>,
}

struct Fake {
    cfg: OverseerrConfig,
    /// sid → user id.
    sessions: Mutex<HashMap<String, i64>>,
}

/// A running fake Overseerr.
pub struct FakeOverseerr {
    pub server: Running,
    pub config: OverseerrConfig,
    fake: Arc<Fake>,
}

impl FakeOverseerr {
    /// Starts it on 127.0.0.1:0.
    pub async fn start(cfg: OverseerrConfig) -> FakeOverseerr {
        let fake = Arc::new(Fake {
            cfg: cfg.clone(),
            sessions: Mutex::default(),
        });
        let router = Router::new()
            .route("/api/v1/auth/plex", post(auth_plex))
            .route("/api/v1/auth/local", post(auth_local))
            .route("/api/v1/auth/me", get(me))
            .route("/api/v1/status", get(status))
            .route("/api/v1/settings/main", get(settings_main))
            .with_state(fake.clone());
        FakeOverseerr {
            server: serve(router).await,
            config: cfg,
            fake,
        }
    }

    /// The URL Usher is configured with.
    pub fn base_url(&self) -> String {
        self.server.url("")
    }

    /// The user id behind a `connect.sid` cookie value as the browser would send it.
    pub fn user_of_cookie(&self, value: &str) -> Option<i64> {
        let sid = sid_of(value)?;
        self.fake.sessions.lock().unwrap().get(&sid).copied()
    }
}

/// `s%3A<sid>.<sig>` → sid.
fn sid_of(value: &str) -> Option<String> {
    let rest = value.strip_prefix("s%3A")?;
    Some(rest.split('.').next()?.to_string())
}

fn denied() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"message": "Access denied."})),
    )
        .into_response()
}

fn signed_in(fake: &Fake, user: &OverseerrUser) -> Response {
    let sid = random_hex(16);
    fake.sessions.lock().unwrap().insert(sid.clone(), user.id);
    let cookie = format!(
        "connect.sid=s%3A{sid}.{}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax",
        random_hex(16)
    );
    let body = json!({"id": user.id, "permissions": 32, "userType": 1, "displayName": user.email});
    ([(header::SET_COOKIE, cookie)], Json(body)).into_response()
}

async fn auth_plex(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let Some(t) = body["authToken"].as_str().filter(|t| !t.is_empty()) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"message": "Authentication token required."})),
        )
            .into_response();
    };
    match fake
        .cfg
        .users
        .iter()
        .find(|u| u.plex_token.as_deref() == Some(t))
    {
        Some(u) => signed_in(&fake, u),
        None => denied(),
    }
}

async fn auth_local(State(fake): State<Arc<Fake>>, Json(body): Json<Value>) -> Response {
    let (Some(email), Some(password)) = (body["email"].as_str(), body["password"].as_str()) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "You must provide both an email address and a password."})),
        )
            .into_response();
    };
    let found = fake
        .cfg
        .users
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(email) && u.password == password);
    match found {
        Some(u) => signed_in(&fake, u),
        None => denied(),
    }
}

async fn me(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let user = request_cookie(&headers, "connect.sid")
        .and_then(|v| sid_of(&v))
        .and_then(|sid| fake.sessions.lock().unwrap().get(&sid).copied());
    match user {
        Some(id) => Json(json!({"id": id})).into_response(),
        None => (
            StatusCode::FORBIDDEN,
            Json(json!({"status": 403, "error": "You do not have permission to access this endpoint"})),
        )
            .into_response(),
    }
}

async fn status() -> Json<Value> {
    Json(
        json!({"version": "1.33.2", "commitTag": "v1.33.2", "updateAvailable": false, "commitsBehind": 0, "restartRequired": false}),
    )
}

async fn settings_main(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        Some(k) if k == fake.cfg.api_key => Json(json!({"applicationTitle": "Overseerr"})).into_response(),
        _ => (
            StatusCode::FORBIDDEN,
            Json(json!({"status": 403, "error": "You do not have permission to access this endpoint"})),
        )
            .into_response(),
    }
}
