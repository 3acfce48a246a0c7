//! A fake plex.tv (spec external-apis.md §11) on 127.0.0.1:0, with its browser auth page.
//!
//! It checks what plex.tv checks: a client identifier on every `/api/v2/*` call (400, code 1000), a
//! valid token where one is needed (401), PINs polled only by the client identifier that created them
//! and gone once expired (404, code 1020), two-factor codes. `/api/v2/*` answers XML unless asked for
//! JSON; `/api/users`, `/api/resources`, `/pms/servers` always answer XML. Tests can break it
//! ([`Mode`]), change shares at run time, approve PINs, and read the request log.
#![allow(dead_code)]

mod auth;
mod lists;
mod page;
mod payloads;
mod wire;

use auth::*;
use lists::*;
use page::*;
use payloads::*;
use wire::*;

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
    /// plex.tv has not confirmed the e-mail (`"confirmed": false`).
    pub email_unconfirmed: bool,
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
            email_unconfirmed: false,
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

    /// Changes a seeded account (e-mail, avatar, …) as if its owner edited it on plex.tv.
    pub fn edit_account(&self, id: i64, edit: impl FnOnce(&mut FakeAccount)) {
        let mut world = self.shared.world();
        let account = world
            .seed
            .accounts
            .iter_mut()
            .find(|a| a.id == id)
            .expect("no such fake account");
        edit(account);
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
