//! A fake plex.tv (spec external-apis.md §11) on 127.0.0.1:0, with its browser auth page.
//!
//! It checks what plex.tv checks: a client identifier on every `/api/v2/*` call (400, code 1000), a
//! valid token where one is needed (401), PINs polled only by the client identifier that created them
//! and gone once expired (404, code 1020), two-factor codes. `/api/v2/*` answers XML unless asked for
//! JSON; `/api/users`, `/api/resources`, `/pms/servers` always answer XML. Tests can break it
//! ([`Mode`]), change shares at run time, approve PINs, and read the request log.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::watch;

/// Ids and names of [`FakePlexSeed::standard`].
pub mod seeded {
    /// The server owner ("adminuser"); owns [`MACHINE_A`] and [`MACHINE_B`].
    pub const OWNER: i64 = 1000001;
    /// "friendly": a friend shared [`MACHINE_A`].
    pub const FRIEND_A: i64 = 2000002;
    /// "elsewhere": a friend shared only [`MACHINE_B`].
    pub const FRIEND_B: i64 = 2000003;
    /// "Kids": a managed Plex Home user (no username, no e-mail, restricted), shared [`MACHINE_A`].
    pub const MANAGED: i64 = 2000005;
    /// "twofactor": a friend shared [`MACHINE_A`] whose account has Plex two-factor authentication.
    pub const TWO_FACTOR: i64 = 2000006;
    /// "stranger": a Plex account nobody shares anything with.
    pub const STRANGER: i64 = 3000001;
    /// "someoneelse": owns [`MACHINE_OTHER`] and shares it with the owner (so the owner's server list
    /// has a server with owned=0).
    pub const NEIGHBOUR: i64 = 9000009;
    /// The owner's main server, "HomeServer".
    pub const MACHINE_A: &str = "9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d";
    /// The owner's second server, "SecondServer".
    pub const MACHINE_B: &str = "5c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d";
    /// The neighbour's server, "OtherServer".
    pub const MACHINE_OTHER: &str = "1111222233334444555566667777888899990000";
    /// The two-factor code [`TWO_FACTOR`] must send.
    pub const TWO_FACTOR_CODE: &str = "123456";
}

/// One plex.tv account.
#[derive(Clone, Debug)]
pub struct FakeAccount {
    pub id: i64,
    pub uuid: String,
    /// Empty for managed Home users.
    pub username: String,
    pub title: String,
    /// Empty for managed Home users.
    pub email: String,
    /// Empty: cannot sign in with a password.
    pub password: String,
    pub token: String,
    pub thumb: String,
    pub two_factor_code: Option<String>,
    pub home: bool,
    pub home_admin: bool,
    pub restricted: bool,
    pub protected: bool,
}

impl FakeAccount {
    /// An ordinary account; uuid, token and thumb derived from the id.
    pub fn new(id: i64, username: &str, email: &str, password: &str) -> Self {
        let uuid = format!("{:016x}", (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Self {
            id,
            thumb: format!("https://plex.tv/users/{uuid}/avatar?c=1700000000"),
            uuid,
            username: username.into(),
            title: username.into(),
            email: email.into(),
            password: password.into(),
            token: format!("PLEXTOKEN{id:011}"),
            two_factor_code: None,
            home: false,
            home_admin: false,
            restricted: false,
            protected: false,
        }
    }
}

/// A Plex Media Server known to plex.tv.
#[derive(Clone, Debug)]
pub struct FakeServer {
    pub machine_id: String,
    pub name: String,
    pub owner_id: i64,
    /// plex.tv's numeric server id.
    pub server_id: i64,
}

/// A server shared with an account.
#[derive(Clone, Debug)]
pub struct FakeShare {
    pub share_id: i64,
    pub user_id: i64,
    pub machine_id: String,
    pub server_token: String,
    pub pending: bool,
}

/// What the fake starts with.
#[derive(Clone, Debug)]
pub struct FakePlexSeed {
    pub accounts: Vec<FakeAccount>,
    pub servers: Vec<FakeServer>,
    pub shares: Vec<FakeShare>,
    /// `(owner, friend)`: `friend` is in `owner`'s `/api/users` even with no share.
    pub friends: Vec<(i64, i64)>,
    /// Lifetime of a strong PIN (plex.tv: 1800 s).
    pub pin_lifetime: Duration,
}

impl FakePlexSeed {
    /// Nobody at all.
    pub fn empty() -> Self {
        Self {
            accounts: vec![],
            servers: vec![],
            shares: vec![],
            friends: vec![],
            pin_lifetime: Duration::from_secs(1800),
        }
    }

    /// The accounts of issue 3; see [`seeded`].
    pub fn standard() -> Self {
        use seeded::*;
        let mut owner = FakeAccount::new(OWNER, "adminuser", "admin@example.com", "admin-pass");
        (owner.home, owner.home_admin) = (true, true);
        let mut two_factor =
            FakeAccount::new(TWO_FACTOR, "twofactor", "2fa@example.com", "twofactor-pass");
        two_factor.two_factor_code = Some(TWO_FACTOR_CODE.into());
        let mut kids = FakeAccount::new(MANAGED, "", "", "");
        (kids.title, kids.home, kids.restricted, kids.protected) =
            ("Kids".into(), true, true, true);
        let server = |machine_id: &str, name: &str, owner_id, server_id| FakeServer {
            machine_id: machine_id.into(),
            name: name.into(),
            owner_id,
            server_id,
        };
        let mut seed = Self {
            accounts: vec![
                owner,
                FakeAccount::new(FRIEND_A, "friendly", "friend@example.com", "hunter2"),
                FakeAccount::new(
                    FRIEND_B,
                    "elsewhere",
                    "elsewhere@example.com",
                    "elsewhere-pass",
                ),
                kids,
                two_factor,
                FakeAccount::new(
                    STRANGER,
                    "stranger",
                    "stranger@example.com",
                    "stranger-pass",
                ),
                FakeAccount::new(
                    NEIGHBOUR,
                    "someoneelse",
                    "someone@example.com",
                    "neighbour-pass",
                ),
            ],
            servers: vec![
                server(MACHINE_A, "HomeServer", OWNER, 7000001),
                server(MACHINE_B, "SecondServer", OWNER, 7000002),
                server(MACHINE_OTHER, "OtherServer", NEIGHBOUR, 7000009),
            ],
            friends: vec![
                (OWNER, FRIEND_A),
                (OWNER, FRIEND_B),
                (OWNER, MANAGED),
                (OWNER, TWO_FACTOR),
                (NEIGHBOUR, OWNER),
            ],
            ..Self::empty()
        };
        for (user, machine) in [
            (FRIEND_A, MACHINE_A),
            (FRIEND_B, MACHINE_B),
            (MANAGED, MACHINE_A),
            (TWO_FACTOR, MACHINE_A),
            (OWNER, MACHINE_OTHER),
        ] {
            seed.share(user, machine);
        }
        seed
    }

    /// Adds an account.
    pub fn with_account(mut self, account: FakeAccount) -> Self {
        self.accounts.push(account);
        self
    }

    /// Shares `machine_id` with `user_id` (accepted).
    pub fn share(&mut self, user_id: i64, machine_id: &str) {
        let share_id = 31000001 + self.shares.len() as i64;
        let server_token = format!("SERVERTOKEN{share_id:09}");
        self.shares.push(FakeShare {
            share_id,
            user_id,
            machine_id: machine_id.into(),
            server_token,
            pending: false,
        });
    }
}

/// How the fake behaves for everything but `/auth` and `/__test/*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// 500 with an HTML error page.
    Error500,
    /// 200 with half a document.
    Garbage,
    /// Never answers (until the mode changes or the fake is dropped).
    Hang,
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// `x-plex-*`, `accept`, `content-type`, `authorization`, lower-case names.
    pub headers: BTreeMap<String, String>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A PIN as the fake holds it.
#[derive(Clone, Debug)]
pub struct FakePin {
    pub id: i64,
    pub code: String,
    pub client_id: String,
    pub product: String,
    pub approved_by: Option<i64>,
    pub auth_token: Option<String>,
    created_at: SystemTime,
    expires: Instant,
    lifetime: Duration,
}

impl FakePin {
    fn alive(&self) -> bool {
        Instant::now() < self.expires
    }
}

struct World {
    seed: FakePlexSeed,
    pins: Vec<FakePin>,
    log: Vec<RecordedRequest>,
    /// Per-path overrides of the global mode.
    route_modes: HashMap<String, Mode>,
}

struct Shared {
    world: Mutex<World>,
    mode: watch::Sender<Mode>,
    closing: watch::Sender<bool>,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn mode_for(&self, path: &str) -> Mode {
        let route = self.world().route_modes.get(path).copied();
        route.unwrap_or(*self.mode.borrow())
    }
}

/// A running fake plex.tv; stops when dropped.
pub struct FakePlex {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakePlex {
    /// Starts the fake on 127.0.0.1:0.
    pub async fn start(seed: FakePlexSeed) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake plex.tv");
        let addr = listener.local_addr().expect("fake plex.tv address");
        let shared = Arc::new(Shared {
            world: Mutex::new(World {
                seed,
                pins: vec![],
                log: vec![],
                route_modes: HashMap::new(),
            }),
            mode: watch::channel(Mode::Normal).0,
            closing: watch::channel(false).0,
        });
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (setting `plex.tv_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The browser auth page, the stand-in for `https://app.plex.tv/auth` (setting `plex.auth_url`).
    pub fn auth_url(&self) -> String {
        format!("http://{}/auth", self.addr)
    }

    /// How every API route behaves from now on (routes set with [`Self::set_route_mode`] excepted).
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
    }

    /// How one path (exact, e.g. `/api/v2/resources`) behaves; `None` goes back to the global mode.
    pub fn set_route_mode(&self, path: &str, mode: Option<Mode>) {
        let mut world = self.shared.world();
        match mode {
            Some(mode) => world.route_modes.insert(path.to_owned(), mode),
            None => world.route_modes.remove(path),
        };
    }

    /// A seeded account (as it is now: tokens change with [`Self::revoke_token`]).
    pub fn account(&self, id: i64) -> FakeAccount {
        self.shared
            .world()
            .seed
            .accounts
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .expect("no such fake account")
    }

    /// Unshares `machine_id` from `user_id`; they stay on the friends list. Returns whether a share existed.
    pub fn remove_share(&self, user_id: i64, machine_id: &str) -> bool {
        let mut world = self.shared.world();
        let before = world.seed.shares.len();
        world
            .seed
            .shares
            .retain(|s| !(s.user_id == user_id && s.machine_id == machine_id));
        before != world.seed.shares.len()
    }

    pub fn add_share(&self, user_id: i64, machine_id: &str) {
        self.shared.world().seed.share(user_id, machine_id);
    }

    /// Removes the friendship and every share of the user's on servers of anyone.
    pub fn remove_friend(&self, user_id: i64) {
        let mut world = self.shared.world();
        world.seed.friends.retain(|(_, friend)| *friend != user_id);
        world.seed.shares.retain(|s| s.user_id != user_id);
    }

    /// Gives the account a new token; the old one is refused from now on ("sign out of all devices").
    pub fn revoke_token(&self, account_id: i64) -> String {
        let mut world = self.shared.world();
        let account = world
            .seed
            .accounts
            .iter_mut()
            .find(|a| a.id == account_id)
            .expect("no such fake account");
        account.token = format!("{}R", &account.token[..account.token.len() - 1]);
        account.token.clone()
    }

    /// Approves a PIN as `account_id` (test control). False if the PIN is unknown or expired.
    pub fn approve_pin(&self, pin_id: i64, account_id: i64) -> bool {
        let mut world = self.shared.world();
        approve(&mut world, |p| p.id == pin_id, account_id).is_ok()
    }

    /// Makes a PIN expire now.
    pub fn expire_pin(&self, pin_id: i64) {
        if let Some(pin) = self.shared.world().pins.iter_mut().find(|p| p.id == pin_id) {
            pin.expires = Instant::now();
        }
    }

    pub fn pins(&self) -> Vec<FakePin> {
        self.shared.world().pins.clone()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.world().log.clone()
    }

    /// Requests whose path is exactly `path`.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.world().log.clear();
    }
}

impl Drop for FakePlex {
    fn drop(&mut self) {
        self.shared.closing.send_replace(true);
        self.task.abort();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/users/sign_in.json", post(legacy_sign_in))
        .route("/users/account.json", get(legacy_account_json))
        .route("/users/account", get(legacy_account_xml))
        .route("/api/v2/users/signin", post(v2_sign_in))
        .route("/api/v2/pins", post(create_pin))
        .route("/api/v2/pins/{id}", get(poll_pin))
        .route("/api/v2/user", get(v2_user))
        .route("/api/v2/ping", get(v2_ping))
        .route("/api/v2/resources", get(v2_resources))
        .route("/api/v2/friends", get(v2_friends))
        .route("/api/users", get(api_users))
        .route("/api/servers/{mid}/shared_servers", get(shared_servers))
        .route("/api/resources", get(api_resources))
        .route("/pms/servers", get(pms_servers))
        .route("/pms/servers.xml", get(pms_servers))
        .route("/auth", get(auth_page))
        .route("/auth/", get(auth_page))
        .route("/__test/pins/{id}/approve", post(test_approve_by_id))
        .route(
            "/__test/pins/by-code/{code}/approve",
            post(test_approve_by_code),
        )
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            record_and_misbehave,
        ))
        .with_state(shared)
}

type S = State<Arc<Shared>>;
type Q = Query<HashMap<String, String>>;

async fn record_and_misbehave(State(shared): S, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request
        .headers()
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name.starts_with("x-plex-")
                || matches!(name, "accept" | "content-type" | "authorization")
        })
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    shared.world().log.push(RecordedRequest {
        method: request.method().to_string(),
        path: path.clone(),
        query: request.uri().query().map(str::to_owned),
        headers,
    });
    if path.starts_with("/__test/") || path == "/auth" || path == "/auth/" {
        return next.run(request).await;
    }
    match shared.mode_for(&path) {
        Mode::Normal => next.run(request).await,
        Mode::Error500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>500 Internal Server Error</h1></body></html>",
        )
            .into_response(),
        Mode::Garbage if wants_json(request.headers()) => {
            json_type(StatusCode::OK, r#"{"id": 1000001, "uuid": "a1b2c3d4e5f60718", "authToken": "ADMINTO"#.into())
        }
        Mode::Garbage => xml_type(
            StatusCode::OK,
            r#"<?xml version="1.0" encoding="UTF-8"?><MediaContainer size="4"><User id="2000002" username="friendly"><Server machineIdentifier=""#.into(),
        ),
        Mode::Hang => {
            let mut closing = shared.closing.subscribe();
            while shared.mode_for(&path) == Mode::Hang && !*closing.borrow() {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(25)) => {}
                    _ = closing.changed() => {}
                }
            }
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

// ---------- request helpers ----------

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("application/json")))
}

/// A header, or the query parameter of the same name (plex.tv accepts both).
fn plex_param(headers: &HeaderMap, query: &HashMap<String, String>, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.get(name).cloned())
        .filter(|v| !v.is_empty())
}

fn client_id(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    plex_param(headers, query, "X-Plex-Client-Identifier")
}

fn caller(
    world: &World,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Option<FakeAccount> {
    let token = plex_param(headers, query, "X-Plex-Token")?;
    world
        .seed
        .accounts
        .iter()
        .find(|a| a.token == token)
        .cloned()
}

fn json_type(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn xml_type(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn xml_doc(status: StatusCode, body: String) -> Response {
    xml_type(
        status,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}\n"),
    )
}

/// `/api/v2/*` error body (§1.4), JSON or XML as asked.
fn v2_error(headers: &HeaderMap, status: StatusCode, code: i64, message: &str) -> Response {
    if wants_json(headers) {
        let body =
            json!({"errors": [{"code": code, "message": message, "status": status.as_u16()}]});
        json_type(status, body.to_string())
    } else {
        let error = element(
            "error",
            &[
                ("code", code.to_string()),
                ("message", message.into()),
                ("status", status.as_u16().to_string()),
            ],
        );
        xml_doc(status, format!("<errors>\n  {error}\n</errors>"))
    }
}

fn missing_client_id(headers: &HeaderMap) -> Response {
    v2_error(
        headers,
        StatusCode::BAD_REQUEST,
        1000,
        "X-Plex-Client-Identifier is missing",
    )
}

fn unauthenticated(headers: &HeaderMap) -> Response {
    v2_error(
        headers,
        StatusCode::UNAUTHORIZED,
        1001,
        "User could not be authenticated",
    )
}

fn legacy_unauthorized() -> Response {
    xml_doc(
        StatusCode::UNAUTHORIZED,
        "<errors>\n  <error>Invalid authentication token.</error>\n</errors>".into(),
    )
}

fn v2_answer(
    headers: &HeaderMap,
    status: StatusCode,
    value: Value,
    xml: impl FnOnce() -> String,
) -> Response {
    if wants_json(headers) {
        json_type(status, value.to_string())
    } else {
        xml_doc(status, xml())
    }
}

fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn attrs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!(" {k}=\"{}\"", escape(v)))
        .collect()
}

fn element(name: &str, pairs: &[(&str, String)]) -> String {
    format!("<{name}{}/>", attrs(pairs))
}

fn bit(b: bool) -> String {
    if b { "1" } else { "0" }.into()
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn find_login<'a>(world: &'a World, login: &str) -> Option<&'a FakeAccount> {
    let login = login.trim();
    world.seed.accounts.iter().find(|a| {
        !a.password.is_empty()
            && !login.is_empty()
            && (a.username.eq_ignore_ascii_case(login) || a.email.eq_ignore_ascii_case(login))
    })
}

// ---------- payloads ----------

fn user_json(account: &FakeAccount, token: &str) -> Value {
    json!({
        "id": account.id, "uuid": account.uuid, "username": account.username, "title": account.title,
        "email": if account.email.is_empty() { Value::Null } else { json!(account.email) },
        "friendlyName": account.title, "locale": null, "confirmed": true, "joinedAt": 1546300800,
        "emailOnlyAuth": false, "hasPassword": !account.password.is_empty(), "protected": account.protected,
        "thumb": account.thumb, "authToken": token, "mailingListStatus": "active", "mailingListActive": false,
        "scrobbleTypes": "", "country": "US",
        "subscription": {"active": false, "subscribedAt": null, "status": "Inactive", "paymentService": null,
                         "plan": null, "features": []},
        "subscriptionDescription": null, "restricted": account.restricted, "anonymous": null,
        "home": account.home, "guest": false, "homeSize": if account.home { 2 } else { 0 },
        "homeAdmin": account.home_admin, "maxHomeSize": 15, "rememberExpiresAt": 1767225600,
        "profile": {"autoSelectAudio": true, "defaultAudioLanguage": "en", "defaultSubtitleLanguage": "en",
                    "autoSelectSubtitle": 0, "defaultSubtitleAccessibility": 0, "defaultSubtitleForced": 0},
        "entitlements": [], "roles": [], "services": [], "adsConsent": null, "adsConsentSetAt": null,
        "adsConsentReminderAt": null, "experimentalFeatures": false,
        "twoFactorEnabled": account.two_factor_code.is_some(), "backupCodesCreated": false
    })
}

fn user_xml(account: &FakeAccount, token: &str) -> String {
    let open = attrs(&[
        ("id", account.id.to_string()),
        ("uuid", account.uuid.clone()),
        ("username", account.username.clone()),
        ("title", account.title.clone()),
        ("email", account.email.clone()),
        ("thumb", account.thumb.clone()),
        ("authenticationToken", token.into()),
        ("authToken", token.into()),
        ("restricted", bit(account.restricted)),
        ("home", bit(account.home)),
        ("homeAdmin", bit(account.home_admin)),
        ("guest", "0".into()),
        ("protected", bit(account.protected)),
        ("twoFactorEnabled", bit(account.two_factor_code.is_some())),
        ("hasPassword", (!account.password.is_empty()).to_string()),
    ]);
    format!("<user{open}>\n  <subscription active=\"0\" status=\"Inactive\" plan=\"\"/>\n  <roles/>\n  <entitlements all=\"0\"/>\n</user>")
}

fn legacy_user_json(account: &FakeAccount) -> Value {
    json!({"user": {
        "id": account.id, "uuid": account.uuid, "email": account.email, "joined_at": "2019-06-01 12:00:00 UTC",
        "username": account.username, "title": account.title, "thumb": account.thumb,
        "hasPassword": !account.password.is_empty(), "authToken": account.token,
        "authentication_token": account.token,
        "subscription": {"active": false, "status": "Inactive", "plan": null, "features": []},
        "roles": {"roles": []}, "entitlements": [], "confirmedAt": "2019-06-01 12:05:00 UTC", "forumId": null
    }})
}

fn pin_json(pin: &FakePin) -> Value {
    // Whole seconds left, rounded up: a live PIN never shows 0.
    let left = pin
        .expires
        .saturating_duration_since(Instant::now())
        .as_millis()
        .div_ceil(1000);
    json!({
        "id": pin.id, "code": pin.code, "product": pin.product, "trusted": false,
        "qr": format!("https://plex.tv/api/v2/pins/qr/{}", pin.code), "clientIdentifier": pin.client_id,
        "location": {"code": "US", "european_union_member": false, "continent_code": "NA",
                     "country": "United States", "city": "Springfield", "time_zone": "America/Chicago",
                     "postal_code": "62701", "in_privacy_restricted_country": false,
                     "in_privacy_restricted_region": false, "subdivisions": "Illinois", "coordinates": "39.8, -89.6"},
        "expiresIn": left, "createdAt": iso8601(pin.created_at), "expiresAt": iso8601(pin.created_at + pin.lifetime),
        "authToken": pin.auth_token, "newRegistration": null
    })
}

fn pin_xml(pin: &FakePin) -> String {
    let value = pin_json(pin);
    let field = |k: &str| {
        value[k]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value[k].to_string())
    };
    let open = attrs(&[
        ("id", pin.id.to_string()),
        ("code", pin.code.clone()),
        ("product", pin.product.clone()),
        ("trusted", "0".into()),
        ("qr", field("qr")),
        ("clientIdentifier", pin.client_id.clone()),
        ("expiresIn", field("expiresIn")),
        ("createdAt", field("createdAt")),
        ("expiresAt", field("expiresAt")),
        ("authToken", pin.auth_token.clone().unwrap_or_default()),
        ("newRegistration", String::new()),
    ]);
    format!("<pin{open}>\n  <location code=\"US\" country=\"United States\" city=\"Springfield\"/>\n</pin>")
}

/// A server as `caller` sees it: (server, owned, token for it, owner).
fn visible_servers(
    world: &World,
    caller: &FakeAccount,
) -> Vec<(FakeServer, bool, String, FakeAccount)> {
    let owner_of = |s: &FakeServer| {
        world
            .seed
            .accounts
            .iter()
            .find(|a| a.id == s.owner_id)
            .cloned()
    };
    let mut out = Vec::new();
    for server in &world.seed.servers {
        let Some(owner) = owner_of(server) else {
            continue;
        };
        if server.owner_id == caller.id {
            out.push((server.clone(), true, caller.token.clone(), owner));
        } else if let Some(share) = world
            .seed
            .shares
            .iter()
            .find(|s| s.user_id == caller.id && s.machine_id == server.machine_id && !s.pending)
        {
            out.push((server.clone(), false, share.server_token.clone(), owner));
        }
    }
    out
}

fn resource_json(server: &FakeServer, owned: bool, token: &str, owner: &FakeAccount) -> Value {
    let octet = server.server_id % 200 + 10;
    json!({
        "name": server.name, "product": "Plex Media Server", "productVersion": "1.41.3.9314-a0bfb8370",
        "platform": "Linux", "platformVersion": "6.1.0-18-amd64", "device": "PC",
        "clientIdentifier": server.machine_id, "createdAt": "2020-09-13T12:26:40Z",
        "lastSeenAt": "2023-11-14T22:13:20Z", "provides": "server",
        "ownerId": if owned { Value::Null } else { json!(owner.id) },
        "sourceTitle": if owned { Value::Null } else { json!(owner.username) },
        "publicAddress": format!("203.0.113.{octet}"), "accessToken": token, "owned": owned, "home": false,
        "synced": false, "relay": true, "presence": true, "httpsRequired": false, "publicAddressMatches": owned,
        "dnsRebindingProtection": false, "natLoopbackSupported": true,
        "connections": [{"protocol": "https", "address": format!("192.168.1.{octet}"), "port": 32400,
            "uri": format!("https://192-168-1-{octet}.{}.plex.direct:32400", &server.machine_id[..32]),
            "local": true, "relay": false, "IPv6": false}]
    })
}

fn web_client_json() -> Value {
    json!({"name": "Chrome", "product": "Plex Web", "productVersion": "4.136.1", "platform": "Chrome",
           "clientIdentifier": "webclientid123", "provides": "client,player,pubsub-player", "owned": true,
           "presence": true, "connections": []})
}

/// JSON resource → XML attributes (scalars only).
fn json_attrs(value: &Value) -> Vec<(&str, String)> {
    let Value::Object(map) = value else {
        return vec![];
    };
    map.iter()
        .filter(|(_, v)| !v.is_array() && !v.is_object())
        .map(|(k, v)| {
            let text = match v {
                Value::Bool(b) => bit(*b),
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.as_str(), text)
        })
        .collect()
}

// ---------- handlers: sign-in ----------

async fn v2_sign_in(
    State(shared): S,
    headers: HeaderMap,
    Query(query): Q,
    body: Bytes,
) -> Response {
    if client_id(&headers, &query).is_none() {
        return missing_client_id(&headers);
    }
    let fields = form(&body);
    let world = shared.world();
    let login = fields.get("login").map(String::as_str).unwrap_or("");
    let Some(account) =
        find_login(&world, login).filter(|a| Some(&a.password) == fields.get("password"))
    else {
        return unauthenticated(&headers);
    };
    if let Some(code) = &account.two_factor_code {
        match fields.get("verificationCode").filter(|c| !c.is_empty()) {
            None => {
                return v2_error(
                    &headers,
                    StatusCode::UNAUTHORIZED,
                    1029,
                    "Please enter the verification code",
                )
            }
            Some(sent) if sent != code => {
                return v2_error(
                    &headers,
                    StatusCode::UNAUTHORIZED,
                    1028,
                    "Invalid verification code",
                )
            }
            Some(_) => {}
        }
    }
    let mut value = user_json(account, &account.token);
    value["pastSubscriptions"] = json!([]);
    value["trials"] = json!([]);
    v2_answer(&headers, StatusCode::CREATED, value, || {
        user_xml(account, &account.token)
    })
}

/// Form, JSON or Basic; the 2FA code is appended to the password.
async fn legacy_sign_in(State(shared): S, headers: HeaderMap, body: Bytes) -> Response {
    let (login, password) = if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(base64_decode)
    {
        let (l, p) = basic.split_once(':').unwrap_or((&basic, ""));
        (l.to_owned(), p.to_owned())
    } else if let Ok(value) = serde_json::from_slice::<Value>(&body) {
        let field = |k: &str| value["user"][k].as_str().unwrap_or_default().to_owned();
        (field("login"), field("password"))
    } else {
        let fields = form(&body);
        let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
        (field("user[login]"), field("user[password]"))
    };
    let world = shared.world();
    let ok = find_login(&world, &login).filter(|a| match &a.two_factor_code {
        Some(code) => password == format!("{}{code}", a.password),
        None => password == a.password,
    });
    match ok {
        Some(account) => json_type(StatusCode::CREATED, legacy_user_json(account).to_string()),
        None => json_type(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Invalid email, username, or password."}"#.into(),
        ),
    }
}

// ---------- handlers: PINs ----------

async fn create_pin(
    State(shared): S,
    headers: HeaderMap,
    Query(query): Q,
    body: Bytes,
) -> Response {
    let Some(client) = client_id(&headers, &query) else {
        return missing_client_id(&headers);
    };
    let strong = query
        .get("strong")
        .or(form(&body).get("strong"))
        .is_some_and(|v| v == "true" || v == "1");
    let mut world = shared.world();
    let lifetime = if strong {
        world.seed.pin_lifetime
    } else {
        world.seed.pin_lifetime.min(Duration::from_secs(900))
    };
    let mut rng = rand::thread_rng();
    let code: String = if strong {
        (0..25)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)]))
            .collect()
    } else {
        (0..4)
            .map(|_| char::from(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rng.gen_range(0..32)]))
            .collect()
    };
    let pin = FakePin {
        id: 1894323456 + world.pins.len() as i64,
        code,
        client_id: client,
        product: plex_param(&headers, &query, "X-Plex-Product").unwrap_or_default(),
        approved_by: None,
        auth_token: None,
        created_at: SystemTime::now(),
        expires: Instant::now() + lifetime,
        lifetime,
    };
    world.pins.push(pin.clone());
    v2_answer(&headers, StatusCode::CREATED, pin_json(&pin), || {
        pin_xml(&pin)
    })
}

/// 404 (1020) for unknown, expired, or another client identifier's PIN.
async fn poll_pin(
    State(shared): S,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Q,
) -> Response {
    let Some(client) = client_id(&headers, &query) else {
        return missing_client_id(&headers);
    };
    let world = shared.world();
    let pin = id
        .parse::<i64>()
        .ok()
        .and_then(|id| world.pins.iter().find(|p| p.id == id));
    match pin.filter(|p| p.alive() && p.client_id == client) {
        Some(pin) => v2_answer(&headers, StatusCode::OK, pin_json(pin), || pin_xml(pin)),
        None => v2_error(
            &headers,
            StatusCode::NOT_FOUND,
            1020,
            "Code not found or expired",
        ),
    }
}

fn approve(
    world: &mut World,
    which: impl Fn(&FakePin) -> bool,
    account_id: i64,
) -> Result<(), (StatusCode, String)> {
    let token = world
        .seed
        .accounts
        .iter()
        .find(|a| a.id == account_id)
        .map(|a| a.token.clone())
        .ok_or((StatusCode::BAD_REQUEST, format!("no account {account_id}")))?;
    let pin = world
        .pins
        .iter_mut()
        .find(|p| which(p) && p.alive())
        .ok_or((
            StatusCode::NOT_FOUND,
            "Code not found or expired".to_owned(),
        ))?;
    pin.approved_by = Some(account_id);
    pin.auth_token = Some(token);
    Ok(())
}

fn approval_account(world: &World, query: &HashMap<String, String>, body: &[u8]) -> Option<i64> {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let by_name = |name: &str| {
        world
            .seed
            .accounts
            .iter()
            .find(|a| a.username == name)
            .map(|a| a.id)
    };
    query
        .get("account")
        .and_then(|v| v.parse().ok())
        .or_else(|| query.get("user").and_then(|u| by_name(u)))
        .or_else(|| json["account"].as_i64())
        .or_else(|| json["user"].as_str().and_then(by_name))
}

async fn test_approve_by_id(
    State(shared): S,
    Path(id): Path<i64>,
    Query(query): Q,
    body: Bytes,
) -> Response {
    let mut world = shared.world();
    let Some(account) = approval_account(&world, &query, &body) else {
        return (StatusCode::BAD_REQUEST, "say ?account=ID or ?user=NAME").into_response();
    };
    match approve(&mut world, |p| p.id == id, account) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// What the auth page calls. When `clientID` is given it must be the PIN creator's, as the real auth
/// app links the code to the app that asked.
async fn test_approve_by_code(
    State(shared): S,
    Path(code): Path<String>,
    Query(query): Q,
    body: Bytes,
) -> Response {
    let mut world = shared.world();
    let Some(account) = approval_account(&world, &query, &body) else {
        return (StatusCode::BAD_REQUEST, "say ?account=ID or ?user=NAME").into_response();
    };
    if let (Some(sent), Some(pin)) = (
        query.get("clientID"),
        world.pins.iter().find(|p| p.code == code),
    ) {
        if *sent != pin.client_id {
            return (
                StatusCode::BAD_REQUEST,
                "clientID does not match the app that created this code",
            )
                .into_response();
        }
    }
    match approve(&mut world, |p| p.code == code, account) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

// ---------- handlers: identity ----------

async fn v2_user(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    if client_id(&headers, &query).is_none() {
        return missing_client_id(&headers);
    }
    let world = shared.world();
    match caller(&world, &headers, &query) {
        Some(a) => v2_answer(&headers, StatusCode::OK, user_json(&a, &a.token), || {
            user_xml(&a, &a.token)
        }),
        None => unauthenticated(&headers),
    }
}

async fn v2_ping(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    if client_id(&headers, &query).is_none() {
        return missing_client_id(&headers);
    }
    match caller(&shared.world(), &headers, &query) {
        Some(_) => v2_answer(&headers, StatusCode::OK, json!({"pong": true}), || {
            "<pong>true</pong>".into()
        }),
        None => unauthenticated(&headers),
    }
}

async fn legacy_account_json(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    match caller(&shared.world(), &headers, &query) {
        Some(a) => json_type(StatusCode::OK, legacy_user_json(&a).to_string()),
        None => json_type(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Invalid authentication token."}"#.into(),
        ),
    }
}

async fn legacy_account_xml(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    match caller(&shared.world(), &headers, &query) {
        Some(a) => xml_doc(StatusCode::OK, user_xml(&a, &a.token)),
        None => legacy_unauthorized(),
    }
}

// ---------- handlers: friends and servers (always XML on legacy paths) ----------

/// The people `owner` lists: explicit friends plus anyone holding a share of one of its servers.
fn friends_of(
    world: &World,
    owner: &FakeAccount,
) -> Vec<(FakeAccount, Vec<(FakeShare, FakeServer)>)> {
    let owned: Vec<&FakeServer> = world
        .seed
        .servers
        .iter()
        .filter(|s| s.owner_id == owner.id)
        .collect();
    let mut out = Vec::new();
    for account in world.seed.accounts.iter().filter(|a| a.id != owner.id) {
        let shares: Vec<(FakeShare, FakeServer)> = world
            .seed
            .shares
            .iter()
            .filter(|s| s.user_id == account.id)
            .filter_map(|s| {
                owned
                    .iter()
                    .find(|srv| srv.machine_id == s.machine_id)
                    .map(|srv| (s.clone(), (*srv).clone()))
            })
            .collect();
        if !shares.is_empty() || world.seed.friends.contains(&(owner.id, account.id)) {
            out.push((account.clone(), shares));
        }
    }
    out
}

async fn api_users(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    let world = shared.world();
    let Some(owner) = caller(&world, &headers, &query) else {
        return legacy_unauthorized();
    };
    let friends = friends_of(&world, &owner);
    let mut body = format!(
        "<MediaContainer friendlyName=\"myPlex\" identifier=\"com.plexapp.plugins.myplex\" machineIdentifier=\"0f7c5d3e2a1b49e8a6c4d2b0e9f8a7c6b5d4e3f2\" totalSize=\"{0}\" size=\"{0}\">\n",
        friends.len()
    );
    for (account, shares) in friends {
        let mut user = attrs(&[
            ("id", account.id.to_string()),
            ("title", account.title.clone()),
            ("username", account.username.clone()),
            ("email", account.email.clone()),
            ("recommendationsPlaylistId", String::new()),
            ("thumb", account.thumb.clone()),
            ("protected", bit(account.protected)),
            ("home", bit(account.home)),
            ("allowTuners", "0".into()),
            ("allowSync", "1".into()),
            ("allowCameraUpload", "0".into()),
            ("allowChannels", "0".into()),
            ("allowSubtitleAdmin", "0".into()),
            ("filterAll", String::new()),
            ("filterMovies", String::new()),
            ("filterMusic", String::new()),
            ("filterPhotos", String::new()),
            ("filterTelevision", String::new()),
            ("restricted", bit(account.restricted)),
        ]);
        if shares.is_empty() {
            body.push_str(&format!("  <User{user}/>\n"));
            continue;
        }
        user.push('>');
        body.push_str(&format!("  <User{user}\n"));
        for (share, server) in shares {
            let server_el = element(
                "Server",
                &[
                    ("id", share.share_id.to_string()),
                    ("serverId", server.server_id.to_string()),
                    ("machineIdentifier", server.machine_id.clone()),
                    ("name", server.name.clone()),
                    ("lastSeenAt", "1700000000".into()),
                    ("numLibraries", "3".into()),
                    ("allLibraries", "1".into()),
                    ("owned", "1".into()),
                    ("pending", bit(share.pending)),
                ],
            );
            body.push_str(&format!("    {server_el}\n"));
        }
        body.push_str("  </User>\n");
    }
    body.push_str("</MediaContainer>");
    xml_doc(StatusCode::OK, body)
}

async fn shared_servers(
    State(shared): S,
    Path(mid): Path<String>,
    headers: HeaderMap,
    Query(query): Q,
) -> Response {
    let world = shared.world();
    let Some(owner) = caller(&world, &headers, &query) else {
        return legacy_unauthorized();
    };
    let Some(server) = world
        .seed
        .servers
        .iter()
        .find(|s| s.machine_id == mid && s.owner_id == owner.id)
    else {
        return xml_doc(
            StatusCode::NOT_FOUND,
            "<errors>\n  <error>Server not found</error>\n</errors>".into(),
        );
    };
    let shares: Vec<&FakeShare> = world
        .seed
        .shares
        .iter()
        .filter(|s| s.machine_id == mid)
        .collect();
    let mut body = format!(
        "<MediaContainer friendlyName=\"myPlex\" identifier=\"com.plexapp.plugins.myplex\" machineIdentifier=\"{mid}\" size=\"{}\">\n",
        shares.len()
    );
    for share in shares {
        let Some(user) = world.seed.accounts.iter().find(|a| a.id == share.user_id) else {
            continue;
        };
        let open = attrs(&[
            ("id", share.share_id.to_string()),
            ("username", user.username.clone()),
            ("email", user.email.clone()),
            ("userID", user.id.to_string()),
            ("accessToken", share.server_token.clone()),
            ("name", server.name.clone()),
            (
                "acceptedAt",
                if share.pending { "0" } else { "1690000000" }.into(),
            ),
            ("invitedAt", "1689990000".into()),
            ("allowSync", "1".into()),
            ("owned", "0".into()),
            ("allLibraries", "1".into()),
        ]);
        body.push_str(&format!(
            "  <SharedServer{open}>\n    <Section id=\"41000001\" key=\"1\" title=\"Movies\" type=\"movie\" shared=\"1\"/>\n    <Section id=\"41000002\" key=\"2\" title=\"TV Shows\" type=\"show\" shared=\"1\"/>\n  </SharedServer>\n"
        ));
    }
    body.push_str("</MediaContainer>");
    xml_doc(StatusCode::OK, body)
}

/// `/api/resources`: `Device` + `Connection`, XML whatever the Accept header says.
async fn api_resources(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    let world = shared.world();
    let Some(me) = caller(&world, &headers, &query) else {
        return legacy_unauthorized();
    };
    let mut devices: Vec<Value> = visible_servers(&world, &me)
        .iter()
        .map(|(s, owned, t, o)| resource_json(s, *owned, t, o))
        .collect();
    devices.push(web_client_json());
    let mut body = format!("<MediaContainer size=\"{}\">\n", devices.len());
    for device in &devices {
        body.push_str(&format!("  <Device{}>\n", attrs(&json_attrs(device))));
        for connection in device["connections"].as_array().into_iter().flatten() {
            body.push_str(&format!(
                "    {}\n",
                element("Connection", &json_attrs(connection))
            ));
        }
        body.push_str("  </Device>\n");
    }
    body.push_str("</MediaContainer>");
    xml_doc(StatusCode::OK, body)
}

/// `/api/v2/resources`: a JSON array, or `<resource>` XML without `Accept: application/json`.
async fn v2_resources(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    if client_id(&headers, &query).is_none() {
        return missing_client_id(&headers);
    }
    let world = shared.world();
    let Some(me) = caller(&world, &headers, &query) else {
        return unauthenticated(&headers);
    };
    let mut devices: Vec<Value> = visible_servers(&world, &me)
        .iter()
        .map(|(s, owned, t, o)| resource_json(s, *owned, t, o))
        .collect();
    devices.push(web_client_json());
    let xml = || {
        let mut body = format!("<MediaContainer size=\"{}\">\n", devices.len());
        for device in &devices {
            body.push_str(&format!(
                "  <resource{}>\n    <connections>\n",
                attrs(&json_attrs(device))
            ));
            for connection in device["connections"].as_array().into_iter().flatten() {
                body.push_str(&format!(
                    "      {}\n",
                    element("connection", &json_attrs(connection))
                ));
            }
            body.push_str("    </connections>\n  </resource>\n");
        }
        body + "</MediaContainer>"
    };
    v2_answer(&headers, StatusCode::OK, Value::Array(devices.clone()), xml)
}

async fn pms_servers(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    let world = shared.world();
    let Some(me) = caller(&world, &headers, &query) else {
        return legacy_unauthorized();
    };
    let servers = visible_servers(&world, &me);
    let mut body = format!(
        "<MediaContainer friendlyName=\"myPlex\" identifier=\"com.plexapp.plugins.myplex\" machineIdentifier=\"0f7c5d3e2a1b49e8a6c4d2b0e9f8a7c6b5d4e3f2\" size=\"{}\">\n",
        servers.len()
    );
    for (server, owned, token, owner) in servers {
        let octet = server.server_id % 200 + 10;
        let mut pairs = vec![
            ("accessToken", token),
            ("name", server.name.clone()),
            ("address", format!("203.0.113.{octet}")),
            ("port", "32400".into()),
            ("version", "1.41.3.9314-a0bfb8370".into()),
            ("scheme", "http".into()),
            ("host", format!("203.0.113.{octet}")),
            ("localAddresses", format!("192.168.1.{octet}")),
            ("machineIdentifier", server.machine_id.clone()),
            ("createdAt", "1600000000".into()),
            ("updatedAt", "1700000000".into()),
            ("owned", bit(owned)),
            ("synced", "0".into()),
        ];
        if !owned {
            pairs.extend([
                ("sourceTitle", owner.username.clone()),
                ("ownerId", owner.id.to_string()),
                ("home", "0".into()),
            ]);
        }
        body.push_str(&format!("  {}\n", element("Server", &pairs)));
    }
    body.push_str("</MediaContainer>");
    xml_doc(StatusCode::OK, body)
}

async fn v2_friends(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    if client_id(&headers, &query).is_none() {
        return missing_client_id(&headers);
    }
    let world = shared.world();
    let Some(me) = caller(&world, &headers, &query) else {
        return unauthenticated(&headers);
    };
    let list: Vec<Value> = friends_of(&world, &me)
        .into_iter()
        .map(|(a, _)| {
            json!({"id": a.id, "uuid": a.uuid, "title": a.title, "username": a.username, "email": a.email,
                   "friendlyName": null, "restricted": a.restricted, "home": a.home, "thumb": a.thumb,
                   "status": "accepted", "sharedServers": [], "sharedSources": []})
        })
        .collect();
    json_type(StatusCode::OK, Value::Array(list).to_string())
}

// ---------- the browser auth page ----------

const AUTH_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fake Plex sign-in</title></head>
<body>
<h1>Fake plex.tv</h1>
<p id="status">Sign in to <b id="product"></b></p>
<div id="buttons"></div>
<script>
const accounts = __ACCOUNTS__;
const params = new URLSearchParams(location.hash.replace(/^#!?\??/, ''));
const clientID = params.get('clientID'), code = params.get('code'), forwardUrl = params.get('forwardUrl');
const note = document.getElementById('status');
if (!clientID || !code) {
  note.textContent = 'Missing clientID or code in the URL fragment';
} else {
  document.getElementById('product').textContent = params.get('context[device][product]') || '(no product)';
  for (const a of accounts) {
    const b = document.createElement('button');
    b.textContent = 'Approve as ' + a.name;
    b.dataset.account = a.id;
    b.onclick = async () => {
      const r = await fetch('/__test/pins/by-code/' + encodeURIComponent(code) + '/approve?account=' + a.id +
                            '&clientID=' + encodeURIComponent(clientID), {method: 'POST'});
      if (!r.ok) { note.textContent = 'Approval failed: ' + r.status + ' ' + await r.text(); return; }
      if (forwardUrl) { location.href = forwardUrl; return; }
      note.textContent = 'Approved — you can close this window';
      window.close();
    };
    document.getElementById('buttons').appendChild(b);
  }
}
</script>
</body></html>
"#;

async fn auth_page(State(shared): S) -> Response {
    let accounts: Vec<Value> = shared
        .world()
        .seed
        .accounts
        .iter()
        .map(|a| json!({"id": a.id, "name": if a.username.is_empty() { &a.title } else { &a.username }}))
        .collect();
    let list = Value::Array(accounts).to_string().replace("</", "<\\/");
    Html(AUTH_PAGE.replace("__ACCOUNTS__", &list)).into_response()
}

// ---------- small utilities ----------

fn iso8601(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn base64_decode(input: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut bits, mut count, mut out) = (0u32, 0u32, Vec::new());
    for byte in input.trim().bytes().filter(|b| *b != b'=') {
        bits = (bits << 6) | ALPHABET.iter().position(|c| *c == byte)? as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    String::from_utf8(out).ok()
}
