//! A fake Tautulli ≥ 2.17.1 (spec §8): `GET {root}/auth/login` (session cookie + csrf-token meta),
//! `POST {root}/auth/signin` (CSRF unless the exact API key is sent; 401 for bad credentials;
//! 429 + Retry-After after too many failures; `tautulli_token_<uuid>` cookie on HTTP_ROOT),
//! `GET {root}/api/v2?apikey=…&cmd=status`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;

use super::{random_hex, request_cookie, serve, Running};

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct TautulliConfig {
    /// HTTP_ROOT, e.g. "/tautulli" or "" (served at /).
    pub root: String,
    pub username: String,
    pub password: String,
    pub api_key: String,
    /// Plex tokens Tautulli accepts (users it knows and lets in).
    pub plex_tokens: Vec<String>,
    /// Failed sign-ins before 429.
    pub max_failures: u32,
}

impl Default for TautulliConfig {
    fn default() -> Self {
        TautulliConfig {
            root: "/tautulli".into(),
            username: "alice".into(),
            password: "correct horse battery".into(),
            api_key: random_hex(16),
            plex_tokens: Vec::new(),
            max_failures: 5,
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Login-page session cookie value → csrf token.
    csrf: HashMap<String, String>,
    failures: u32,
    /// Tokens issued (Tautulli only accepts its own).
    issued: Vec<String>,
}

struct Fake {
    cfg: TautulliConfig,
    uuid: String,
    cookie_suffix: String,
    inner: Mutex<Inner>,
}

/// A running fake Tautulli.
pub struct FakeTautulli {
    pub server: Running,
    pub config: TautulliConfig,
    /// The `uuid` it answers with (sha256(PMS_UUID)[:10] in 2.17.1).
    pub uuid: String,
    fake: Arc<Fake>,
}

impl FakeTautulli {
    /// Starts it on 127.0.0.1:0.
    pub async fn start(cfg: TautulliConfig) -> FakeTautulli {
        let fake = Arc::new(Fake {
            uuid: random_hex(5),
            cookie_suffix: random_hex(4),
            cfg: cfg.clone(),
            inner: Mutex::default(),
        });
        let root = cfg.root.trim_end_matches('/').to_string();
        let router = Router::new()
            .route(&format!("{root}/auth/login"), get(login_page))
            .route(
                &format!("{root}/auth/signin"),
                post(signin).get(not_allowed),
            )
            .route(&format!("{root}/api/v2"), get(api))
            .route(&format!("{root}/home"), get(home))
            .with_state(fake.clone());
        FakeTautulli {
            server: serve(router).await,
            uuid: fake.uuid.clone(),
            config: cfg,
            fake,
        }
    }

    /// The URL Usher is configured with (including HTTP_ROOT).
    pub fn base_url(&self) -> String {
        self.server.url(self.config.root.trim_end_matches('/'))
    }

    /// True when Tautulli issued this token (a cookie value it would accept).
    pub fn issued(&self, token: &str) -> bool {
        self.fake
            .inner
            .lock()
            .unwrap()
            .issued
            .iter()
            .any(|t| t == token)
    }

    /// The name of the login-page session cookie.
    pub fn session_cookie_name(&self) -> String {
        format!("tautulli_session_{}", self.fake.cookie_suffix)
    }
}

fn cookie_path(fake: &Fake) -> String {
    let root = fake.cfg.root.trim_end_matches('/');
    if root.is_empty() {
        "/".into()
    } else {
        root.into()
    }
}

async fn login_page(State(fake): State<Arc<Fake>>) -> Response {
    let session = random_hex(16);
    let csrf = random_hex(16);
    fake.inner
        .lock()
        .unwrap()
        .csrf
        .insert(session.clone(), csrf.clone());
    let cookie = format!(
        "tautulli_session_{}={session}; HttpOnly; Path={}; SameSite=Lax",
        fake.cookie_suffix,
        cookie_path(&fake)
    );
    let page = format!(
        "<!doctype html><html><head><title>Tautulli - Login</title>\
         <meta name=\"csrf-token\" content=\"{csrf}\"></head><body>Tautulli</body></html>"
    );
    ([(header::SET_COOKIE, cookie)], Html(page)).into_response()
}

/// Tautulli's home page: what a person sees with (or without) a sign-in cookie it issued.
async fn home(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let token = request_cookie(&headers, &format!("tautulli_token_{}", fake.uuid));
    let signed_in = token.is_some_and(|t| fake.inner.lock().unwrap().issued.contains(&t));
    let body = if signed_in {
        "<h1>Tautulli</h1><p id=\"state\">Activity: signed in by Usher</p>"
    } else {
        "<h1>Tautulli</h1><p id=\"state\">Please sign in</p>"
    };
    Html(format!(
        "<!doctype html><html><head><title>Tautulli</title></head><body>{body}</body></html>"
    ))
    .into_response()
}

async fn not_allowed() -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

fn csrf_ok(fake: &Fake, headers: &HeaderMap) -> bool {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(fake.cfg.api_key.as_str()) {
        return true;
    }
    let session = request_cookie(headers, &format!("tautulli_session_{}", fake.cookie_suffix));
    let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    let inner = fake.inner.lock().unwrap();
    match (session, sent) {
        (Some(s), Some(t)) => inner.csrf.get(&s).is_some_and(|c| c == t),
        _ => false,
    }
}

async fn signin(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !csrf_ok(&fake, &headers) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"status": "403 Forbidden", "message": "CSRF token missing or incorrect.", "error": true})),
        )
            .into_response();
    }
    let mut inner = fake.inner.lock().unwrap();
    if inner.failures >= fake.cfg.max_failures {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "120")],
            Json(json!({"status": "error", "message": "Too many login attempts."})),
        )
            .into_response();
    }
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let by_token =
        !field("token").is_empty() && fake.cfg.plex_tokens.iter().any(|t| t == field("token"));
    let by_password =
        field("username") == fake.cfg.username && field("password") == fake.cfg.password;
    if !(by_token || by_password) {
        inner.failures += 1;
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": "error", "message": "Invalid credentials."})),
        )
            .into_response();
    }
    let token = format!("eyJhbGciOiJIUzI1NiJ9.{}.sig", random_hex(12));
    inner.issued.push(token.clone());
    let max_age = if field("remember_me") == "1" {
        2_592_000
    } else {
        3600
    };
    let cookie = format!(
        "tautulli_token_{}={token}; HttpOnly; Max-Age={max_age}; Path={}; SameSite=lax",
        fake.uuid,
        cookie_path(&fake)
    );
    (
        [(header::SET_COOKIE, cookie)],
        Json(json!({"status": "success", "token": token, "uuid": fake.uuid})),
    )
        .into_response()
}

async fn api(State(fake): State<Arc<Fake>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let ok = q.get("apikey") == Some(&fake.cfg.api_key);
    let body = if ok {
        json!({"response": {"result": "success", "message": null, "data": {"result": "success"}}})
    } else {
        json!({"response": {"result": "error", "message": "Invalid apikey", "data": {}}})
    };
    Json(body).into_response()
}
