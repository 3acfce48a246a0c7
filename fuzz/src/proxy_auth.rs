//! Target `proxy_auth`: the whole proxy-auth answer through the real router (the lib's
//! `http::router::router` over a `Core` on SQLite in a temp dir), fed with tower's `oneshot`:
//! path and query, Cookie headers, `X-Forwarded-*`, `X-Forwarded-For`/`X-Real-IP` and the socket
//! peer, with the documented `proxy.rules` example in force.
//!
//! Invariant, not only "no panic": an answer names somebody (a non-empty `X-Organizr-*` or
//! `Remote-*` header) only with status 200, only as alice or kid, and only when a Cookie header
//! of the request holds that person's valid session token. alice's revoked session names
//! nobody. The oracle reads the raw Cookie bytes, not Usher's cookie parser.
//!
//! Input, one line each: first `METHOD URI` (or a URI alone: GET); `peer: IP` sets the socket
//! peer (default 127.0.0.1, a trusted proxy); any other `name: value` line is a request header,
//! in which `$ALICE`, `$KID` and `$REVOKED` stand for the session tokens.

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

/// The database made before the fork, and the tokens of its sessions.
struct Prepared {
    config: Config,
    /// People with a valid session: (name, token).
    people: [(&'static str, String); 2],
    revoked: String,
    _dir: tempfile::TempDir,
}

/// What one AFL child serves with (made on its first input).
struct Child {
    rt: tokio::runtime::Runtime,
    router: Router,
}

static PREPARED: OnceLock<Prepared> = OnceLock::new();

/// Makes the database, the people and their sessions, then closes it all (no thread or socket
/// may cross the fork).
pub fn prepare() {
    PREPARED.get_or_init(|| crate::runtime().block_on(setup()));
}

async fn setup() -> Prepared {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_data_dir(dir.path());
    let core = Core::open(config.clone()).await.expect("Usher opens");
    let rules: Value = serde_json::from_str(include_str!("../../docs/examples/proxy-rules.json"))
        .expect("the documented rules are JSON");
    let mut patch = Map::new();
    patch.insert("proxy.rules".into(), rules);
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
    Prepared {
        config,
        people: [("alice", alice), ("kid", kid)],
        revoked: old.token.expose().to_string(),
        _dir: dir,
    }
}

fn child(prepared: &Prepared) -> &'static Child {
    static CHILD: OnceLock<Child> = OnceLock::new();
    CHILD.get_or_init(|| {
        let rt = crate::runtime();
        let core: Arc<Core> = rt
            .block_on(Core::open(prepared.config.clone()))
            .expect("Usher opens");
        let router = usher::http::router::router(core);
        Child { rt, router }
    })
}

/// One request, and the invariant on its answer.
pub fn run(data: &[u8]) {
    let prepared = PREPARED.get_or_init(|| crate::runtime().block_on(setup()));
    let Some(request) = request(data, prepared) else {
        return;
    };
    let cookies: Vec<Vec<u8>> = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect();
    let c = child(prepared);
    let response =
        c.rt.block_on(c.router.clone().oneshot(request))
            .expect("the router is infallible");
    check(&response, &cookies, prepared);
}

fn check(response: &Response<Body>, cookies: &[Vec<u8>], prepared: &Prepared) {
    let h = response.headers();
    let named = IDENTITY
        .iter()
        .any(|name| h.get_all(*name).iter().any(|v| !v.is_empty()));
    if !named {
        return;
    }
    assert_eq!(response.status(), 200, "identity on a refusal: {h:?}");
    let user = h.get("x-organizr-user").map(HeaderValue::as_bytes);
    let Some((_, token)) = prepared
        .people
        .iter()
        .find(|(name, _)| Some(name.as_bytes()) == user)
    else {
        panic!("an identity nobody has a session for: {h:?}");
    };
    assert!(
        cookies.iter().any(|c| contains(c, token.as_bytes())),
        "a pass with identity {user:?} for a request without their session token: {h:?}"
    );
    assert_eq!(h.get("remote-user"), h.get("x-organizr-user"));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The request an input describes; `None` when it is not one an HTTP server could receive.
fn request(data: &[u8], prepared: &Prepared) -> Option<Request<Body>> {
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
        if name.eq_ignore_ascii_case(b"peer") {
            if let Some(ip) = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                peer = SocketAddr::new(ip, 40000);
            }
            continue;
        }
        let value = substitute(value, prepared);
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
fn substitute(value: &[u8], prepared: &Prepared) -> Vec<u8> {
    let names: [(&[u8], &str); 3] = [
        (b"$ALICE", &prepared.people[0].1),
        (b"$KID", &prepared.people[1].1),
        (b"$REVOKED", &prepared.revoked),
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
