//! Target `proxy_auth`: the whole proxy-auth answer through the real router (the lib's
//! `http::router::router` over a `Core` on SQLite in a temp dir), fed with tower's `oneshot`:
//! path and query, Cookie headers, `X-Forwarded-*`, `X-Forwarded-For`/`X-Real-IP` and the socket
//! peer; without `proxy.rules`, or with the documented example when the input has a line
//! `rules: on`.
//!
//! Invariant, not only "no panic": an answer names somebody (a non-empty `X-Organizr-*` or
//! `Remote-*` header) only with status 200, only as alice or kid, and only when a Cookie header
//! of the request holds that person's valid session token as `usher_session`. alice's revoked
//! session names nobody. The oracle reads the raw Cookie bytes, not Usher's cookie parser.
//!
//! Input, one line each: first `METHOD URI` (or a URI alone: GET); `peer: IP` sets the socket
//! peer (default 127.0.0.1, a trusted proxy); `rules: on` picks the settings with rules; any
//! other `name: value` line is a request header, in which `$ALICE`, `$KID` and `$REVOKED` stand
//! for the session tokens.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http::{header, HeaderName, HeaderValue, Method, Request, Response, Uri};
use serde_json::{json, Map, Value};
use tower::ServiceExt;
use usher::auth::accounts::{Acting, CreateUser};
use usher::auth::ClientInfo;
use usher::domain::SessionMethod;
use usher::{Config, Core};

/// The identity headers of a pass (`http::proxy_auth`).
const IDENTITY: [&str; 7] = [
    "x-organizr-user",
    "x-organizr-email",
    "x-organizr-group",
    "remote-user",
    "remote-email",
    "remote-groups",
    "remote-name",
];

/// One database made before the fork (settings, people, sessions) and its session tokens.
pub(crate) struct World {
    pub(crate) config: Config,
    /// People with a valid session: (name, token).
    people: [(&'static str, String); 2],
    revoked: String,
    _dir: tempfile::TempDir,
}

/// What one AFL child serves with (made on its first input): a router per world.
struct Child {
    rt: tokio::runtime::Runtime,
    routers: [Router; 2],
}

/// Without `proxy.rules`, and with the documented example (`rules: on` in the input).
static WORLDS: OnceLock<[World; 2]> = OnceLock::new();

pub(crate) fn worlds() -> &'static [World; 2] {
    WORLDS.get_or_init(|| {
        let rt = crate::runtime();
        [rt.block_on(setup(false)), rt.block_on(setup(true))]
    })
}

/// Makes the databases, the people and their sessions, then closes it all (no thread or socket
/// may cross the fork).
pub fn prepare() {
    worlds();
}

async fn setup(with_rules: bool) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_data_dir(dir.path());
    let core = Core::open(config.clone()).await.expect("Usher opens");
    let mut patch = Map::new();
    if with_rules {
        let rules: Value =
            serde_json::from_str(include_str!("../../docs/examples/proxy-rules.json"))
                .expect("the documented rules are JSON");
        patch.insert("proxy.rules".into(), rules);
    }
    patch.insert("public_url".into(), json!("https://usher.example.com"));
    patch.insert("cookie_domain".into(), json!("example.com"));
    patch.insert("allowed_redirect_hosts".into(), json!(["media.home.lan"]));
    core.update_settings(&patch, &Acting::cli())
        .await
        .expect("store answers")
        .expect("settings valid");
    let client = ClientInfo {
        ip: IpAddr::from([127, 0, 0, 1]),
        user_agent: None,
    };
    let mut tokens = Vec::new();
    for name in ["alice", "kid"] {
        let user = core
            .create_user(
                CreateUser {
                    username: name.into(),
                    email: Some(format!("{name}@example.com")),
                    group_id: Some(4),
                    ..Default::default()
                },
                &Acting::cli(),
            )
            .await
            .expect("user created");
        let signed_in = core
            .start_session(user, SessionMethod::Local, false, &client)
            .await
            .expect("session");
        tokens.push(signed_in.token.expose().to_string());
    }
    // A session of alice's that was signed out: its token must name nobody.
    let alice = core
        .store
        .find_user_by_name("alice")
        .await
        .expect("store answers")
        .expect("alice exists");
    let old = core
        .start_session(alice, SessionMethod::Local, false, &client)
        .await
        .expect("session");
    core.logout(&old.token.hash(), &client)
        .await
        .expect("revoked");
    core.store.close().await;
    let [alice, kid] = <[String; 2]>::try_from(tokens).expect("two tokens");
    World {
        config,
        people: [("alice", alice), ("kid", kid)],
        revoked: old.token.expose().to_string(),
        _dir: dir,
    }
}

fn child() -> &'static Child {
    static CHILD: OnceLock<Child> = OnceLock::new();
    CHILD.get_or_init(|| {
        let rt = crate::runtime();
        let routers = worlds().each_ref().map(|w| {
            let core: Arc<Core> = rt
                .block_on(Core::open(w.config.clone()))
                .expect("Usher opens");
            usher::http::router::router(core)
        });
        Child { rt, routers }
    })
}

/// One request, and the invariant on its answer.
pub fn run(data: &[u8]) {
    let rules = crate::lines(data).any(|l| l == b"rules: on");
    let world = &worlds()[usize::from(rules)];
    let Some(request) = request(data, world) else {
        return;
    };
    let cookies: Vec<Vec<u8>> = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    if show() {
        eprintln!(
            "{} {} {:?}",
            request.method(),
            request.uri(),
            request.headers()
        );
    }
    let c = child();
    let router = c.routers[usize::from(rules)].clone();
    let response =
        c.rt.block_on(router.oneshot(request))
            .expect("the router is infallible");
    if show() {
        eprintln!("{} {:?}", response.status(), response.headers());
    }
    check(&response, &cookies, world);
}

/// `USHER_FUZZ_SHOW=1` prints each answer (for `scripts/fuzz repro`).
fn show() -> bool {
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("USHER_FUZZ_SHOW").is_some())
}

fn check(response: &Response<Body>, cookies: &[Vec<u8>], world: &World) {
    let h = response.headers();
    let named = IDENTITY
        .iter()
        .any(|name| h.get_all(*name).iter().any(|v| !v.is_empty()));
    if !named {
        return;
    }
    assert_eq!(response.status(), 200, "identity on a refusal: {h:?}");
    let user = h.get("x-organizr-user").map(HeaderValue::as_bytes);
    let Some((_, token)) = world
        .people
        .iter()
        .find(|(name, _)| Some(name.as_bytes()) == user)
    else {
        panic!("an identity nobody has a session for: {h:?}");
    };
    assert!(
        cookies.iter().any(|c| holds_session(c, token.as_bytes())),
        "a pass with identity {user:?} for a request without their session token: {h:?}"
    );
    assert_eq!(h.get("remote-user"), h.get("x-organizr-user"));
}

/// Whether a Cookie header carries `usher_session=TOKEN` as one of its `;`-separated pairs
/// (RFC 6265 section 5.4; white space around names and values does not count).
fn holds_session(cookie: &[u8], token: &[u8]) -> bool {
    cookie.split(|b| *b == b';').any(|pair| {
        let Some(eq) = pair.iter().position(|b| *b == b'=') else {
            return false;
        };
        pair[..eq].trim_ascii() == b"usher_session" && pair[eq + 1..].trim_ascii() == token
    })
}

/// The request an input describes; `None` when it is not one an HTTP server could receive.
fn request(data: &[u8], world: &World) -> Option<Request<Body>> {
    let mut lines = crate::lines(data);
    let first = lines.next()?;
    let (method, uri) = match first.iter().position(|b| *b == b' ') {
        Some(i) => (Method::from_bytes(&first[..i]).ok()?, &first[i + 1..]),
        None => (Method::GET, first),
    };
    let uri = Uri::try_from(uri).ok()?;
    if !uri.path().starts_with("/api") {
        return None; // pages and assets are not proxy auth
    }
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .ok()?;
    let mut peer = SocketAddr::from(([127, 0, 0, 1], 40000));
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if name == b"rules" {
            continue; // chose the world in `run`
        }
        if name.eq_ignore_ascii_case(b"peer") {
            if let Some(ip) = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                peer = SocketAddr::new(ip, 40000);
            }
            continue;
        }
        let value = substitute(value, world);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(&value),
        ) {
            request.headers_mut().append(name, value);
        }
    }
    request.extensions_mut().insert(ConnectInfo(peer));
    Some(request)
}

/// `$ALICE`, `$KID` and `$REVOKED` replaced by the tokens.
pub(crate) fn substitute(value: &[u8], world: &World) -> Vec<u8> {
    let names: [(&[u8], &str); 3] = [
        (b"$ALICE", &world.people[0].1),
        (b"$KID", &world.people[1].1),
        (b"$REVOKED", &world.revoked),
    ];
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    'outer: while !rest.is_empty() {
        for (name, token) in names {
            if let Some(after) = rest.strip_prefix(name) {
                out.extend_from_slice(token.as_bytes());
                rest = after;
                continue 'outer;
            }
        }
        out.push(rest[0]);
        rest = &rest[1..];
    }
    out
}
