//! Target `oidc`: Usher's OpenID Connect provider through the real router (the lib's
//! `http::router::router` over a `Core` on SQLite, `public_url` set), fed with tower's
//! `oneshot`: `/oidc/authorize` (query, session cookie), `/oidc/token` (form body, HTTP Basic or
//! `client_secret_post`, PKCE), `/oidc/userinfo` (Bearer), `/oidc/revoke`, `/oidc/logout` and
//! `/.well-known/openid-configuration`. `prepare()` makes the database once: the signing key,
//! a confidential client `grafana` with a known secret, a public client `cli`, alice (group 4)
//! and guest (group 999, above both clients' group) each with a valid session, and a signed-out
//! session of alice's. Each AFL child works on its own copy of that database.
//!
//! An input is up to four requests, one after the other (codes are single-use, so a flow is
//! authorize, then token, then userinfo/revoke/logout in one input). Invariants, besides "no
//! panic" and "nothing 5xx" (the store is a local SQLite that always answers):
//! - a redirect (3xx `Location`) goes to a relative `/login…` of Usher's, or to a redirect URI
//!   registered for a `client_id` of the request (authorize: exactly; logout: same origin, the
//!   client named by `client_id` or by an id_token issued in this input);
//! - a `code` is issued only when a Cookie header holds alice's valid session (and not guest's
//!   too; a signed-out one beside it does not count), with a registered `client_id` and one of
//!   its exact registered `redirect_uri`s; for the public client only with a PKCE challenge;
//! - the token endpoint answers 200 with an `access_token` only for a client that proved itself
//!   (grafana's secret by Basic or the body; `cli` with no secret), and only for a code issued to
//!   that client in this input, not yet redeemed, with its `redirect_uri` and its PKCE verifier,
//!   or for a refresh token issued to that client in this input, not yet rotated, whose grant
//!   was not revoked;
//! - userinfo answers 200 only for an access token issued in this input that was not revoked
//!   (by `/oidc/revoke`, a code used twice or a logout that ended alice's session);
//! - a logout ends a session (clears the cookie) only with an id_token issued in this input.
//!
//! Input: requests separated by a line `---`. Each: first `METHOD URI` (or a URI alone: GET),
//! then `name: value` header lines, then after an empty line the body. Anywhere in a request,
//! `$ALICE`, `$GUEST`, `$REVOKED` stand for the session tokens, `$SECRET` for grafana's secret,
//! `$BASIC` for `Basic base64(grafana:secret)`, `$VERIFIER`/`$CHALLENGE` for a PKCE pair, and
//! `$CODE`, `$ACCESS`, `$REFRESH`, `$IDTOKEN` for the last of each issued earlier in the input.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use http::{header, HeaderName, HeaderValue, Method, Request, Uri};
use serde_json::{json, Map, Value};
use tower::ServiceExt;
use usher::auth::accounts::{Acting, CreateUser};
use usher::auth::ClientInfo;
use usher::domain::SessionMethod;
use usher::oidc::clients::{self, NewClient};
use usher::store::Actor;
use usher::{Config, Core};

const ISSUER: &str = "https://usher.example.com";
const SECRET: &str = "grafana-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const MAX_REQUESTS: usize = 4;

/// The registered clients: id, public, redirect URIs.
const CLIENTS: [(&str, bool, &[&str]); 2] = [
    (
        "grafana",
        false,
        &[
            "https://grafana.example.com/login/generic_oauth",
            "http://127.0.0.1:4180/oauth2/callback",
        ],
    ),
    (
        "cli",
        true,
        &[
            "http://127.0.0.1:8400/callback",
            "https://app.example.com/cb?x=1",
        ],
    ),
];

fn registered(client: &str) -> &'static [&'static str] {
    CLIENTS
        .iter()
        .find(|(id, _, _)| *id == client)
        .map_or(&[], |(_, _, uris)| uris)
}

fn is_public(client: &str) -> bool {
    CLIENTS
        .iter()
        .any(|(id, public, _)| *id == client && *public)
}

/// The database made before the fork (`base/`), and the session tokens in it.
struct World {
    base: PathBuf,
    alice: String,
    guest: String,
    revoked: String,
    _dir: tempfile::TempDir,
}

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    WORLD.get_or_init(|| crate::runtime().block_on(setup()))
}

/// Makes the database, clients, people, sessions and signing key, then closes it all.
pub fn prepare() {
    world();
}

fn client_info() -> ClientInfo {
    ClientInfo {
        ip: IpAddr::from([127, 0, 0, 1]),
        user_agent: None,
    }
}

async fn setup() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().join("base");
    std::fs::create_dir(&base).expect("base dir");
    let core = Core::open(Config::for_data_dir(&base))
        .await
        .expect("Usher opens");
    let mut patch = Map::new();
    patch.insert("public_url".into(), json!(ISSUER));
    core.update_settings(&patch, &Acting::cli())
        .await
        .expect("store answers")
        .expect("settings valid");
    for (id, public, uris) in CLIENTS {
        clients::add(
            &core.store,
            NewClient {
                id: id.into(),
                name: None,
                redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
                max_group: None,
                public,
                allow_http: false,
                secret: (!public).then(|| SECRET.to_string()),
            },
            &Actor::cli(),
        )
        .await
        .expect("client registered");
    }
    // The RSA key is made once here, not in every child.
    core.oidc_keys
        .ring(&core.store, &core.secret_key)
        .await
        .expect("signing key");
    let mut tokens = Vec::new();
    for (name, group) in [("alice", 4), ("guest", 999)] {
        let user = core
            .create_user(
                CreateUser {
                    username: name.into(),
                    email: Some(format!("{name}@example.com")),
                    group_id: Some(group),
                    ..Default::default()
                },
                &Acting::cli(),
            )
            .await
            .expect("user created");
        let signed_in = core
            .start_session(user, SessionMethod::Local, false, &client_info())
            .await
            .expect("session");
        tokens.push(signed_in.token.expose().to_string());
    }
    let old = core
        .start_session(
            alice_user(&core).await,
            SessionMethod::Local,
            false,
            &client_info(),
        )
        .await
        .expect("session");
    core.logout(&old.token.hash(), &client_info())
        .await
        .expect("revoked");
    core.store.close().await;
    let [alice, guest] = <[String; 2]>::try_from(tokens).expect("two tokens");
    World {
        base,
        alice,
        guest,
        revoked: old.token.expose().to_string(),
        _dir: dir,
    }
}

async fn alice_user(core: &Core) -> usher::domain::User {
    core.store
        .find_user_by_name("alice")
        .await
        .expect("store answers")
        .expect("alice exists")
}

/// What one AFL child serves with (made on its first input).
struct Child {
    rt: tokio::runtime::Runtime,
    core: Arc<Core>,
    router: Router,
    /// alice's valid session token (a new one after a logout ended the last).
    alice: String,
}

thread_local! {
    static CHILD: RefCell<Option<Child>> = const { RefCell::new(None) };
}

/// A copy of the prepared database for this child: one child runs at a time, so `child/` is
/// made afresh by each (what an input wrote never reaches the next child).
fn copy_world(base: &Path) -> PathBuf {
    let dir = base.with_file_name("child");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).expect("child dir");
    for entry in std::fs::read_dir(base).expect("base dir") {
        let entry = entry.expect("dir entry");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
        }
    }
    dir
}

fn with_child<T>(f: impl FnOnce(&mut Child) -> T) -> T {
    CHILD.with(|c| {
        let mut c = c.borrow_mut();
        let child = c.get_or_insert_with(|| {
            let rt = crate::runtime();
            let dir = copy_world(&world().base);
            let core: Arc<Core> = rt
                .block_on(Core::open(Config::for_data_dir(&dir)))
                .expect("Usher opens");
            let router = usher::http::router::router(core.clone());
            Child {
                rt,
                core,
                router,
                alice: world().alice.clone(),
            }
        });
        f(child)
    })
}

/// A code issued in this input.
struct Code {
    value: String,
    client: String,
    redirect_uri: String,
    challenge: Option<String>,
    redeemed: Option<usize>,
}

/// A token issued in this input, with the grant (index) it belongs to.
struct Token {
    value: String,
    client: String,
    grant: usize,
    spent: bool,
    revoked: bool,
}

/// What the input has been issued so far.
#[derive(Default)]
struct Issued {
    codes: Vec<Code>,
    access: Vec<Token>,
    refresh: Vec<Token>,
    id_tokens: Vec<(String, String)>,
    /// Grants revoked as a whole (refresh token revoked, code used twice, session ended).
    dead_grants: Vec<usize>,
    grants: usize,
}

impl Issued {
    fn last(&self, name: &[u8]) -> &str {
        match name {
            b"$CODE" => self.codes.last().map(|c| c.value.as_str()),
            b"$ACCESS" => self.access.last().map(|t| t.value.as_str()),
            b"$REFRESH" => self.refresh.last().map(|t| t.value.as_str()),
            b"$IDTOKEN" => self.id_tokens.last().map(|t| t.0.as_str()),
            _ => None,
        }
        .unwrap_or("")
    }

    fn kill_grant(&mut self, grant: usize) {
        self.dead_grants.push(grant);
    }
}

/// One input: its requests in order, and the invariants on each answer.
pub fn run(data: &[u8]) {
    let w = world();
    with_child(|child| {
        let mut issued = Issued::default();
        for raw in split_requests(data).take(MAX_REQUESTS) {
            let text = substitute(raw, w, child, &issued);
            let Some((request, seen)) = request(&text) else {
                continue;
            };
            if show() {
                eprintln!(
                    "{} {} {:?}",
                    request.method(),
                    request.uri(),
                    request.headers()
                );
            }
            let response = child
                .rt
                .block_on(child.router.clone().oneshot(request))
                .expect("the router is infallible");
            let (parts, body) = response.into_parts();
            let body = child
                .rt
                .block_on(axum::body::to_bytes(body, 1 << 20))
                .expect("a body");
            if show() {
                eprintln!(
                    "{} {:?} {}",
                    parts.status,
                    parts.headers,
                    String::from_utf8_lossy(&body)
                );
            }
            assert!(
                !parts.status.is_server_error(),
                "{} for {} {}: {}",
                parts.status,
                seen.method,
                seen.uri,
                String::from_utf8_lossy(&body)
            );
            let answer = Answer {
                status: parts.status.as_u16(),
                headers: &parts.headers,
                body: &body,
            };
            check(&seen, &answer, w, child, &mut issued);
        }
    });
}

/// `USHER_FUZZ_SHOW=1` prints each request and answer (for `scripts/fuzz repro`).
fn show() -> bool {
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("USHER_FUZZ_SHOW").is_some())
}

fn split_requests(data: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut out: Vec<Vec<u8>> = vec![Vec::new()];
    for line in crate::lines(data) {
        if line == b"---" {
            out.push(Vec::new());
            continue;
        }
        let cur = out.last_mut().expect("one at least");
        cur.extend_from_slice(line);
        cur.push(b'\n');
    }
    out.into_iter()
}

/// The placeholders replaced by what they stand for.
fn substitute(raw: Vec<u8>, w: &World, child: &Child, issued: &Issued) -> Vec<u8> {
    let basic = format!("Basic {}", B64.encode(format!("grafana:{SECRET}")));
    let challenge = usher::oidc::s256(VERIFIER);
    let fixed: [(&[u8], &str); 7] = [
        (b"$ALICE", &child.alice),
        (b"$GUEST", &w.guest),
        (b"$REVOKED", &w.revoked),
        (b"$SECRET", SECRET),
        (b"$BASIC", &basic),
        (b"$VERIFIER", VERIFIER),
        (b"$CHALLENGE", &challenge),
    ];
    let issued_names: [&[u8]; 4] = [b"$CODE", b"$ACCESS", b"$REFRESH", b"$IDTOKEN"];
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw.as_slice();
    'outer: while !rest.is_empty() {
        if rest[0] == b'$' {
            for (name, value) in fixed {
                if let Some(after) = rest.strip_prefix(name) {
                    out.extend_from_slice(value.as_bytes());
                    rest = after;
                    continue 'outer;
                }
            }
            for name in issued_names {
                if let Some(after) = rest.strip_prefix(name) {
                    out.extend_from_slice(issued.last(name).as_bytes());
                    rest = after;
                    continue 'outer;
                }
            }
        }
        out.push(rest[0]);
        rest = &rest[1..];
    }
    out
}

/// A request as the oracle sees it (raw, not through Usher's parsers).
struct Seen {
    method: Method,
    uri: Uri,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

impl Seen {
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    fn query(&self) -> Vec<(String, String)> {
        pairs(self.uri.query().unwrap_or("").as_bytes())
    }

    fn form(&self) -> Vec<(String, String)> {
        pairs(&self.body)
    }
}

fn pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn all<'a>(pairs: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs
        .iter()
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The request a text describes; `None` when it is not one for the provider.
fn request(text: &[u8]) -> Option<(Request<Body>, Seen)> {
    let (head, body) = match text.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text, &[][..]),
    };
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let mut lines = head.split(|b| *b == b'\n');
    let first_line = lines.next()?;
    let (method, uri) = match first_line.iter().position(|b| *b == b' ') {
        Some(i) => (
            Method::from_bytes(&first_line[..i]).ok()?,
            &first_line[i + 1..],
        ),
        None => (Method::GET, first_line),
    };
    let uri = Uri::try_from(uri).ok()?;
    if !(uri.path().starts_with("/oidc/") || uri.path().starts_with("/.well-known/")) {
        return None;
    }
    let mut request = Request::builder()
        .method(method.clone())
        .uri(uri.clone())
        .body(Body::from(body.to_vec()))
        .ok()?;
    let mut headers = Vec::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            request.headers_mut().append(n, v);
            headers.push((name.to_vec(), value.to_vec()));
        }
    }
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let seen = Seen {
        method,
        uri,
        headers,
        body: body.to_vec(),
    };
    Some((request, seen))
}

struct Answer<'a> {
    status: u16,
    headers: &'a http::HeaderMap,
    body: &'a [u8],
}

impl Answer<'_> {
    fn location(&self) -> Option<&str> {
        if !(300..400).contains(&self.status) {
            return None;
        }
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().expect("a Location Usher wrote is ASCII"))
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(self.body).ok()
    }
}

/// Whether a Cookie header carries `usher_session=TOKEN` as one of its `;`-separated pairs.
fn holds_session(seen: &Seen, token: &str) -> bool {
    seen.header_values("cookie").any(|cookie| {
        cookie.split(|b| *b == b';').any(|pair| {
            let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                return false;
            };
            pair[..eq].trim_ascii() == b"usher_session"
                && pair[eq + 1..].trim_ascii() == token.as_bytes()
        })
    })
}

fn check(seen: &Seen, answer: &Answer, w: &World, child: &mut Child, issued: &mut Issued) {
    match seen.uri.path() {
        "/oidc/authorize" => check_authorize(seen, answer, w, child, issued),
        "/oidc/token" => check_token(seen, answer, issued),
        "/oidc/userinfo" => check_userinfo(seen, answer, issued),
        "/oidc/revoke" => check_revoke(seen, answer, issued),
        "/oidc/logout" => check_logout(seen, answer, child, issued),
        "/.well-known/openid-configuration" if answer.status == 200 => {
            let doc = answer.json().expect("discovery is JSON");
            assert_eq!(doc["issuer"], ISSUER);
        }
        _ => assert!(
            answer.location().is_none_or(is_login_page),
            "unexpected redirect {:?}",
            answer.location()
        ),
    }
}

fn is_login_page(location: &str) -> bool {
    location.starts_with("/login?") || location == "/login"
}

/// The (client, redirect URI) of the request that are registered together.
fn registered_pair(query: &[(String, String)]) -> Option<(&'static str, &'static str)> {
    for client in all(query, "client_id") {
        for uri in all(query, "redirect_uri") {
            if let Some(u) = registered(client).iter().find(|u| **u == uri) {
                let id = CLIENTS.iter().find(|c| c.0 == client).expect("known").0;
                return Some((id, u));
            }
        }
    }
    None
}

fn check_authorize(seen: &Seen, answer: &Answer, w: &World, child: &Child, issued: &mut Issued) {
    let Some(location) = answer.location() else {
        return;
    };
    if is_login_page(location) {
        return;
    }
    let query = seen.query();
    let Some((client, uri)) = registered_pair(&query) else {
        panic!("redirect to {location:?} without a registered client_id and redirect_uri");
    };
    let rest = location
        .strip_prefix(uri)
        .unwrap_or_else(|| panic!("redirect to {location:?}, not to {uri:?}"));
    assert!(
        rest.starts_with('?') || rest.starts_with('&'),
        "redirect to {location:?}"
    );
    let back = url::Url::parse(location).expect("an absolute redirect");
    let Some(code) = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
    else {
        return;
    };
    assert!(
        holds_session(seen, &child.alice),
        "a code without alice's session cookie: {location}"
    );
    // A stale (signed-out) cookie beside a valid one is what browsers send: it does not count.
    assert!(
        !holds_session(seen, &w.guest),
        "a code for a request that also names guest"
    );
    let challenge = first(&query, "code_challenge").map(str::to_string);
    if is_public(client) {
        assert!(
            challenge.is_some(),
            "a code for the public client without PKCE"
        );
    }
    issued.codes.push(Code {
        value: code,
        client: client.to_string(),
        redirect_uri: uri.to_string(),
        challenge,
        redeemed: None,
    });
}

/// The client the request authenticates as, by the oracle's own reading of RFC 6749 §2.3.1.
fn authenticated(seen: &Seen, form: &[(String, String)]) -> Option<&'static str> {
    let basic = seen
        .header_values("authorization")
        .next()
        .and_then(|v| v.strip_prefix(b"Basic "));
    if let Some(basic) = basic {
        let decoded = B64.decode(basic.trim_ascii()).ok()?;
        let colon = decoded.iter().position(|b| *b == b':')?;
        let decode = |s: &[u8]| {
            let mut v = b"v=".to_vec();
            v.extend_from_slice(s);
            pairs(&v).pop().map(|p| p.1).unwrap_or_default()
        };
        let (id, secret) = (decode(&decoded[..colon]), decode(&decoded[colon + 1..]));
        return (id == "grafana" && secret == SECRET && first(form, "client_secret").is_none())
            .then_some("grafana");
    }
    match (first(form, "client_id"), first(form, "client_secret")) {
        (Some("grafana"), Some(SECRET)) => Some("grafana"),
        (Some("cli"), None) => Some("cli"),
        _ => None,
    }
}

fn check_token(seen: &Seen, answer: &Answer, issued: &mut Issued) {
    let json = answer.json();
    if answer.status != 200 {
        if let Some(j) = &json {
            // A code used twice: what its first use issued is revoked.
            if j["error_description"] == "the code was already used" {
                let form = seen.form();
                let code = first(&form, "code").unwrap_or("");
                if let Some(g) = issued
                    .codes
                    .iter()
                    .find(|c| c.value == code)
                    .and_then(|c| c.redeemed)
                {
                    issued.kill_grant(g);
                }
            }
        }
        return;
    }
    let Some(json) = json else { return };
    let Some(access) = json["access_token"].as_str() else {
        return;
    };
    let form = seen.form();
    let client = authenticated(seen, &form)
        .unwrap_or_else(|| panic!("tokens for a request without client authentication: {form:?}"));
    let grant = match first(&form, "grant_type") {
        Some("authorization_code") => {
            let value = first(&form, "code").unwrap_or("");
            let code = issued
                .codes
                .iter_mut()
                .find(|c| c.value == value)
                .expect("tokens for a code not issued in this input");
            assert_eq!(code.client, client, "a code redeemed by another client");
            assert!(code.redeemed.is_none(), "a code redeemed twice");
            assert_eq!(
                first(&form, "redirect_uri"),
                Some(code.redirect_uri.as_str()),
                "a code redeemed with another redirect_uri"
            );
            match &code.challenge {
                Some(c) => assert_eq!(
                    first(&form, "code_verifier")
                        .map(usher::oidc::s256)
                        .as_ref(),
                    Some(c),
                    "a PKCE code redeemed without its verifier"
                ),
                None => assert!(!is_public(client), "the public client without PKCE"),
            }
            let g = issued.grants;
            issued.grants += 1;
            code.redeemed = Some(g);
            g
        }
        Some("refresh_token") => {
            let value = first(&form, "refresh_token").unwrap_or("");
            let dead = &issued.dead_grants;
            let t = issued
                .refresh
                .iter_mut()
                .find(|t| t.value == value)
                .expect("tokens for a refresh token not issued in this input");
            assert_eq!(t.client, client, "a refresh token used by another client");
            assert!(!t.spent, "a rotated refresh token used again");
            assert!(
                !t.revoked && !dead.contains(&t.grant),
                "a revoked refresh token used"
            );
            t.spent = true;
            t.grant
        }
        other => panic!("tokens for grant_type {other:?}"),
    };
    let token = |value: &str| Token {
        value: value.to_string(),
        client: client.to_string(),
        grant,
        spent: false,
        revoked: false,
    };
    issued.access.push(token(access));
    if let Some(r) = json["refresh_token"].as_str() {
        issued.refresh.push(token(r));
    }
    if let Some(i) = json["id_token"].as_str() {
        issued.id_tokens.push((i.to_string(), client.to_string()));
    }
}

fn check_userinfo(seen: &Seen, answer: &Answer, issued: &Issued) {
    if answer.status != 200 {
        return;
    }
    let bearer = seen
        .header_values("authorization")
        .next()
        .and_then(|v| v.strip_prefix(b"Bearer "))
        .map(<[u8]>::trim_ascii)
        .unwrap_or_default();
    let t = issued
        .access
        .iter()
        .find(|t| t.value.as_bytes() == bearer)
        .expect("userinfo for a token not issued in this input");
    assert!(
        !t.revoked && !issued.dead_grants.contains(&t.grant),
        "userinfo for a revoked access token"
    );
    let claims = answer.json().expect("userinfo is JSON");
    assert!(claims["sub"].is_string(), "userinfo without sub");
}

fn check_revoke(seen: &Seen, answer: &Answer, issued: &mut Issued) {
    if answer.status != 200 {
        return;
    }
    let form = seen.form();
    let Some(client) = authenticated(seen, &form) else {
        return;
    };
    let value = first(&form, "token").unwrap_or("");
    if let Some(t) = issued
        .access
        .iter_mut()
        .find(|t| t.value == value && t.client == client)
    {
        t.revoked = true;
    }
    if let Some(g) = issued
        .refresh
        .iter()
        .find(|t| t.value == value && t.client == client)
        .map(|t| t.grant)
    {
        issued.kill_grant(g);
    }
}

fn check_logout(seen: &Seen, answer: &Answer, child: &mut Child, issued: &mut Issued) {
    let query = seen.query();
    if let Some(location) = answer.location() {
        let target = url::Url::parse(location).expect("an absolute redirect");
        let clients: Vec<&str> = all(&query, "client_id")
            .chain(issued.id_tokens.iter().map(|(_, c)| c.as_str()))
            .collect();
        let ok = clients.iter().any(|c| {
            registered(c).iter().any(|u| {
                url::Url::parse(u).expect("registered URIs parse").origin() == target.origin()
            })
        });
        assert!(ok, "logout sent to {location:?}, no origin of {clients:?}");
    }
    let ended = answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(b"usher_session="));
    if ended {
        assert!(
            all(&query, "id_token_hint").any(|h| issued.id_tokens.iter().any(|(t, _)| t == h)),
            "a logout without an id_token issued here ended a session"
        );
        // Every grant of this input hangs on alice's session, which is over.
        issued.dead_grants.extend(0..issued.grants);
        let c = &child.core;
        let alice = child.rt.block_on(alice_user(c));
        let fresh = child
            .rt
            .block_on(c.start_session(alice, SessionMethod::Local, false, &client_info()))
            .expect("session");
        // Later requests of this input and later inputs use the new session.
        child.alice = fresh.token.expose().to_string();
    }
}
