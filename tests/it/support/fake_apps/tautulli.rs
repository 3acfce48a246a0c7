//! A fake Tautulli 2.17.2 (spec §8, and Tautulli's `webauth.py`): `GET {root}/auth/login`
//! (session cookie + csrf-token meta), `POST {root}/auth/signin` (CSRF unless the exact API key is
//! sent; the admin login by HTTP username and password, Plex users by token as `plex_user_login`
//! decides; 401 for refused credentials, each one a failed sign-in of the caller's address; 429 +
//! Retry-After once an address has 10 failures within 5 minutes since its last success;
//! `tautulli_token_<uuid>` cookie on HTTP_ROOT), and API v2 (`status`, `get_settings`,
//! `get_users` with the users' access flags).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Query, State};
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
    /// Tautulli's user list (the people the Plex server is shared with, and its admin).
    pub users: Vec<TautulliUser>,
    /// Settings / Web Interface / Allow Guest Access (on here, off in a fresh Tautulli).
    pub allow_guest_access: bool,
    /// Settings / Web Interface / Allow Plex Admin (on, as in Tautulli).
    pub plex_admin: bool,
    /// Failed sign-ins of one address within [`RATE_WINDOW`] before 429 (Tautulli: 10).
    pub max_failures: u32,
}

/// HTTP_RATE_LIMIT_ATTEMPTS_INTERVAL and HTTP_RATE_LIMIT_LOCKOUT_TIME.
pub const RATE_WINDOW: Duration = Duration::from_secs(300);

/// One user of Tautulli's list, with the Plex token plex.tv would map to it.
#[derive(Debug, Clone)]
pub struct TautulliUser {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub token: String,
    pub is_admin: bool,
    /// The per-user Allow Guest Access flag (Users / Edit user).
    pub allow_guest: bool,
}

impl TautulliUser {
    /// A friend the server is shared with, guest access allowed.
    pub fn guest(user_id: i64, username: &str, token: &str) -> TautulliUser {
        TautulliUser {
            user_id,
            username: username.into(),
            email: format!("{username}@example.com"),
            token: token.into(),
            is_admin: false,
            allow_guest: true,
        }
    }
}

impl Default for TautulliConfig {
    fn default() -> Self {
        TautulliConfig {
            root: "/tautulli".into(),
            username: "alice".into(),
            password: "correct horse battery".into(),
            api_key: random_hex(16),
            users: Vec::new(),
            allow_guest_access: true,
            plex_admin: true,
            max_failures: 10,
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Login-page session cookie value → csrf token.
    csrf: HashMap<String, String>,
    /// Per address: the times of failed sign-ins since its last success.
    failures: HashMap<IpAddr, Vec<Instant>>,
    /// Every failed sign-in ever (what Tautulli's login log would show).
    failed_total: u32,
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

    /// How many sign-ins Tautulli refused so far (each one counts towards a lockout).
    pub fn failed_sign_ins(&self) -> u32 {
        self.fake.inner.lock().unwrap().failed_total
    }

    /// How many sign-ins were posted (accepted or not).
    pub fn sign_in_posts(&self) -> usize {
        self.server
            .control
            .seen()
            .iter()
            .filter(|s| s.method == "POST" && s.path.ends_with("/auth/signin"))
            .count()
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
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
    let now = Instant::now();
    let failures = inner.failures.entry(peer.ip()).or_default();
    failures.retain(|at| now.duration_since(*at) < RATE_WINDOW);
    if failures.len() >= fake.cfg.max_failures as usize {
        let last = *failures.last().expect("at least one failure");
        let wait = RATE_WINDOW
            .saturating_sub(now.duration_since(last))
            .as_secs();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            Json(json!({"status": "error", "message": "Too many login attempts."})),
        )
            .into_response();
    }
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let by_token = !field("token").is_empty() && plex_user_login(&fake.cfg, field("token"));
    let by_password = !field("username").is_empty()
        && field("username") == fake.cfg.username
        && field("password") == fake.cfg.password;
    if !(by_token || by_password) {
        failures.push(now);
        inner.failed_total += 1;
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": "error", "message": "Invalid credentials."})),
        )
            .into_response();
    }
    // A success starts the address's count afresh.
    failures.clear();
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

/// `plex_user_login`: the token's user must be in the list, and be the Plex admin with Allow
/// Plex Admin on, or have guest access allowed for them and globally.
fn plex_user_login(cfg: &TautulliConfig, token: &str) -> bool {
    let Some(user) = cfg.users.iter().find(|u| u.token == token) else {
        return false;
    };
    if cfg.plex_admin && user.is_admin {
        return true;
    }
    user.allow_guest && cfg.allow_guest_access
}

async fn api(State(fake): State<Arc<Fake>>, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("apikey") != Some(&fake.cfg.api_key) {
        let body =
            json!({"response": {"result": "error", "message": "Invalid apikey", "data": {}}});
        return Json(body).into_response();
    }
    let cfg = &fake.cfg;
    let data = match q.get("cmd").map(String::as_str) {
        Some("status") => json!({"result": "success"}),
        // Config values are ints (`_cast_setting`); HTTP_PASSWORD is stored hashed.
        Some("get_settings") => {
            let general = json!({
                "http_username": cfg.username,
                "http_password": "$2b$12$hashed",
                "http_plex_admin": i32::from(cfg.plex_admin),
                "allow_guest_access": i32::from(cfg.allow_guest_access),
                "api_enabled": 1,
            });
            match q.get("key").map(String::as_str) {
                Some("General") => general,
                _ => json!({ "General": general }),
            }
        }
        Some("get_users") => cfg
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                json!({
                    "row_id": i + 1, "user_id": u.user_id, "username": u.username,
                    "friendly_name": u.username, "email": u.email, "is_active": 1,
                    "is_admin": i32::from(u.is_admin), "is_home_user": 0, "is_allow_sync": 1,
                    "is_restricted": 0, "do_notify": 1, "keep_history": 1,
                    "allow_guest": i32::from(u.allow_guest), "shared_libraries": ["1", "2"],
                })
            })
            .collect(),
        _ => {
            let body =
                json!({"response": {"result": "error", "message": "Unknown command", "data": {}}});
            return Json(body).into_response();
        }
    };
    Json(json!({"response": {"result": "success", "message": null, "data": data}})).into_response()
}
