//! `POST /api/v2/login`, logout, `/api/v2/me` and the session cookie over real HTTP: cookie
//! attributes, throttling, Organizr bcrypt hashes, bad input, and what a dead cookie gets.
//! Also holds the small helpers the other API test modules share.

use reqwest::{Client, Response};
use serde_json::{json, Value};
use usher::domain::now;
use usher::store::Actor;

use crate::support::{assert_error, TestApp, PASSWORD};

// ---------- shared helpers ----------

/// Every `Set-Cookie` value of a response.
pub(crate) fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ASCII Set-Cookie").to_string())
        .collect()
}

/// The first `Set-Cookie` that sets `name`.
pub(crate) fn cookie_named(r: &Response, name: &str) -> String {
    set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {:?}", set_cookies(r)))
}

/// The value part of a `Set-Cookie` (`name=value; …` → `value`).
pub(crate) fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap_or_default();
    pair.split_once('=')
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// An attribute of a `Set-Cookie`: `Some("")` for a flag, `Some(value)` for `Key=value`.
pub(crate) fn attr(set_cookie: &str, name: &str) -> Option<String> {
    set_cookie.split(';').skip(1).map(str::trim).find_map(|a| {
        let (k, v) = a.split_once('=').unwrap_or((a, ""));
        k.eq_ignore_ascii_case(name).then(|| v.to_string())
    })
}

/// Changes run-time settings as the CLI would (validated, all-or-nothing).
pub(crate) async fn set_settings(app: &TestApp, patch: Value) {
    let map = patch.as_object().expect("an object").clone();
    app.core
        .update_settings(&map, &usher::auth::accounts::Acting::cli())
        .await
        .expect("store answers")
        .expect("settings valid");
}

/// A second connection to the test's database, for what no endpoint shows.
pub(crate) async fn db(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&app.core.config.database_url)
        .await
        .expect("second connection to the test database")
}

/// A client with no cookie jar: it sends exactly the `Cookie` header a test gives it.
pub(crate) fn bare() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Sends a request (with a JSON body when given) and returns status and JSON body.
pub(crate) async fn send(
    app: &TestApp,
    client: &Client,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client.request(method.parse().expect("method"), app.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The stored password hash of a user (read through the store, as login does).
pub(crate) async fn stored_hash(app: &TestApp, login: &str) -> Option<String> {
    app.core
        .store
        .find_user_for_login(login)
        .await
        .expect("store answers")
        .expect("user exists")
        .1
}

// ---------- local helpers ----------

async fn login_json(app: &TestApp, client: &Client, body: Value) -> Response {
    client
        .post(app.url("/api/v2/login"))
        .json(&body)
        .send()
        .await
        .expect("login request")
}

/// A login from a client IP (set by the loopback proxy in `X-Real-IP`).
async fn login_from(app: &TestApp, ip: &str, username: &str, password: &str) -> Response {
    app.client()
        .post(app.url("/api/v2/login"))
        .header("x-real-ip", ip)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("login request")
}

async fn me_status(app: &TestApp, cookie: &str) -> u16 {
    bare()
        .get(app.url("/api/v2/me"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn proxy_status(app: &TestApp, cookie: &str) -> u16 {
    bare()
        .get(app.url("/api/v2/auth/4"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn body_of(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

// ---------- sign-in ----------

#[tokio::test]
async fn login_sets_a_session_cookie_with_the_right_attributes() {
    let app = TestApp::spawn().await;
    let alice = app.add_user("alice", 4).await;
    let c = app.client();
    let before = now();
    let r = app.login(&c, "alice", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    assert_eq!(
        cookies.len(),
        1,
        "one cookie without cookie_domain: {cookies:?}"
    );
    let sc = cookie_named(&r, "usher_session");
    assert_eq!(
        cookie_value(&sc).len(),
        43,
        "256-bit token, base64url: {sc}"
    );
    assert_eq!(attr(&sc, "HttpOnly").as_deref(), Some(""), "{sc}");
    assert_eq!(attr(&sc, "SameSite").as_deref(), Some("Lax"), "{sc}");
    assert_eq!(attr(&sc, "Path").as_deref(), Some("/"), "{sc}");
    assert_eq!(attr(&sc, "Max-Age").as_deref(), Some("86400"), "{sc}");
    assert_eq!(
        attr(&sc, "Secure"),
        None,
        "no Secure without an https public_url: {sc}"
    );
    assert_eq!(attr(&sc, "Domain"), None, "host-only by default: {sc}");

    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["id"], alice.id);
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["user"]["group_id"], 4);
    assert_eq!(body["redirect"], "/");
    let expires = body["expires_at"].as_i64().unwrap();
    assert!(
        (before + 86_400..=now() + 86_400).contains(&expires),
        "{expires}"
    );
    let text = body.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("password_hash"),
        "{text}"
    );

    // The cookie works: the jar sends it back.
    let (status, me) = app.get_json(&c, "/api/v2/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["username"], "alice");

    // "Remember me": remember_days (7 by default), then whatever the setting says.
    let r = login_json(
        &app,
        &app.client(),
        json!({"username": "alice", "password": PASSWORD, "remember": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sc = cookie_named(&r, "usher_session");
    assert_eq!(attr(&sc, "Max-Age").as_deref(), Some("604800"), "{sc}");
    set_settings(&app, json!({"remember_days": 30})).await;
    let r = login_json(
        &app,
        &app.client(),
        json!({"username": "alice", "password": PASSWORD, "remember": true}),
    )
    .await;
    let sc = cookie_named(&r, "usher_session");
    assert_eq!(attr(&sc, "Max-Age").as_deref(), Some("2592000"), "{sc}");
    let body: Value = r.json().await.unwrap();
    assert!(body["expires_at"].as_i64().unwrap() >= before + 30 * 86_400);
}

#[tokio::test]
async fn secure_and_domain_follow_public_url_and_cookie_domain() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    set_settings(&app, json!({"public_url": "http://usher.example.com"})).await;
    let r = app.login(&app.client(), "alice", PASSWORD).await;
    let sc = cookie_named(&r, "usher_session");
    assert_eq!(
        attr(&sc, "Secure"),
        None,
        "http public_url: not Secure: {sc}"
    );

    set_settings(
        &app,
        json!({"public_url": "https://usher.example.com", "cookie_domain": "Example.com"}),
    )
    .await;
    let r = app.login(&app.client(), "alice", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    let with_domain: Vec<&String> = cookies
        .iter()
        .filter(|c| attr(c, "Domain").is_some())
        .collect();
    assert_eq!(with_domain.len(), 1, "{cookies:?}");
    let sc = with_domain[0];
    assert_eq!(attr(sc, "Domain").as_deref(), Some("example.com"), "{sc}");
    assert_eq!(attr(sc, "Secure").as_deref(), Some(""), "{sc}");
    assert_eq!(attr(sc, "HttpOnly").as_deref(), Some(""), "{sc}");
    assert_eq!(cookie_value(sc).len(), 43, "{sc}");
    // Any host-only cookie of the same name is cleared so it cannot shadow the domain cookie.
    for c in cookies.iter().filter(|c| attr(c, "Domain").is_none()) {
        assert_eq!(attr(c, "Max-Age").as_deref(), Some("0"), "{c}");
        assert_eq!(cookie_value(c), "", "{c}");
    }

    // Logout clears both forms.
    let token = cookie_value(sc);
    let r = bare()
        .post(app.url("/api/v2/logout"))
        .header("cookie", format!("usher_session={token}"))
        .send()
        .await
        .unwrap();
    let cleared = set_cookies(&r);
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    assert!(cleared
        .iter()
        .all(|c| attr(c, "Max-Age").as_deref() == Some("0") && cookie_value(c).is_empty()));
    assert!(cleared
        .iter()
        .any(|c| attr(c, "Domain").as_deref() == Some("example.com")));
    assert_eq!(
        me_status(&app, &format!("usher_session={token}")).await,
        401
    );
}

#[tokio::test]
async fn login_by_username_or_email_in_any_case() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    app.add_user("Zoë 日本", 4).await;
    for body in [
        json!({"username": "alice", "password": PASSWORD}),
        json!({"username": "ALICE", "password": PASSWORD}),
        json!({"username": "  Alice ", "password": PASSWORD}),
        json!({"username": "Alice@Example.COM", "password": PASSWORD}),
        json!({"email": "alice@example.com", "password": PASSWORD}),
    ] {
        let (status, b) = body_of(login_json(&app, &app.client(), body.clone()).await).await;
        assert_eq!(status, 200, "{body}: {b}");
        assert_eq!(b["user"]["username"], "alice", "{body}");
    }
    // Unicode names fold case too, and come back unchanged.
    for name in ["Zoë 日本", "ZOË 日本", "zoë 日本"] {
        let (status, b) = body_of(app.login(&app.client(), name, PASSWORD).await).await;
        assert_eq!(status, 200, "{name}: {b}");
        assert_eq!(b["user"]["username"], "Zoë 日本");
    }
    // Case-insensitive does not mean fuzzy.
    let (status, _) = body_of(app.login(&app.client(), "alic", PASSWORD).await).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let (s1, b1) = body_of(app.login(&app.client(), "alice", "not the password").await).await;
    let (s2, b2) = body_of(app.login(&app.client(), "nobody", "not the password").await).await;
    let (s3, b3) = body_of(
        app.login(&app.client(), "nobody@example.com", PASSWORD)
            .await,
    )
    .await;
    assert_eq!(s1, 401);
    assert_error(&b1, "invalid_credentials");
    assert_eq!(
        (s1, &b1),
        (s2, &b2),
        "unknown user must look like a wrong password"
    );
    assert_eq!((s1, &b1), (s3, &b3));
    // And no cookie is set on failure.
    let r = app.login(&app.client(), "alice", "nope nope").await;
    assert!(set_cookies(&r).is_empty());
}

#[tokio::test]
async fn a_locked_user_gets_423_only_with_the_right_password() {
    let app = TestApp::spawn().await;
    let alice = app.add_user("alice", 4).await;
    app.core
        .edit_user(
            alice.id,
            usher::auth::accounts::EditUser {
                locked: Some(true),
                ..Default::default()
            },
            &usher::auth::accounts::Acting::cli(),
        )
        .await
        .unwrap();
    let r = app.login(&app.client(), "alice", PASSWORD).await;
    assert!(set_cookies(&r).is_empty());
    let (status, body) = body_of(r).await;
    assert_eq!(status, 423);
    assert_error(&body, "account_locked");
    // A wrong password does not reveal that the account exists and is locked.
    let (status, body) = body_of(app.login(&app.client(), "alice", "wrong one!").await).await;
    assert_eq!(status, 401);
    assert_error(&body, "invalid_credentials");
}

#[tokio::test]
async fn failures_per_username_are_throttled_with_retry_after() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    app.add_user("bob", 4).await;
    set_settings(&app, json!({"login.max_failures_per_user": 3})).await;
    for _ in 0..3 {
        let r = login_from(&app, "198.51.100.1", "alice", "guess guess").await;
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("retry-after").is_none());
    }
    // Paused now, even with the right password, and from another address (same username).
    for ip in ["198.51.100.1", "198.51.100.77"] {
        let r = login_from(&app, ip, "ALICE", PASSWORD).await;
        assert_eq!(r.status(), 429, "{ip}");
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After in seconds");
        assert!((1..=900).contains(&wait), "{wait}");
        assert!(set_cookies(&r).is_empty());
        let body: Value = r.json().await.unwrap();
        assert_error(&body, "too_many_attempts");
    }
    // Someone else, from somewhere else, is not affected; nor is bob from alice's address.
    assert_eq!(
        login_from(&app, "198.51.100.2", "bob", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        login_from(&app, "198.51.100.1", "bob", PASSWORD)
            .await
            .status(),
        200
    );
}

/// Every text that names an account spends that account's one budget: the username in any
/// case, its e-mail, and the profile's current-password check; from any address.
#[tokio::test]
async fn the_username_in_any_case_and_the_email_share_one_budget() {
    let app = TestApp::spawn().await;
    app.add_user("bob", 4).await;
    let bob = app.signed_in("robert", 4).await;
    set_settings(&app, json!({"login.max_failures_per_user": 4})).await;
    for (ip, typed) in [
        ("198.51.100.11", "bob"),
        ("198.51.100.12", "BOB"),
        ("198.51.100.13", "bob@example.com"),
    ] {
        let r = login_from(&app, ip, typed, "guess guess").await;
        assert_eq!(r.status(), 401, "{typed}");
    }
    // Another account is not touched by bob's budget.
    assert_eq!(
        login_from(&app, "198.51.100.14", "robert", PASSWORD)
            .await
            .status(),
        200
    );
    let r = login_from(&app, "198.51.100.15", "Bob@Example.com", "guess guess").await;
    assert_eq!(r.status(), 401, "the fourth failure");
    for typed in ["bob", "BOB", "bob@example.com"] {
        let r = login_from(&app, "198.51.100.16", typed, PASSWORD).await;
        assert_eq!(r.status(), 429, "{typed} is paused with the right password");
        assert!(r.headers().contains_key("retry-after"));
    }

    // Names that name nobody share a budget by their look-alike key, and get the same answers.
    for typed in ["zed", "ZED", "\u{ff5a}ed", "zed"] {
        let r = login_from(&app, "198.51.100.20", typed, "guess guess").await;
        assert_eq!(r.status(), 401, "{typed}");
        let body: Value = r.json().await.unwrap();
        assert_error(&body, "invalid_credentials");
    }
    let r = login_from(&app, "198.51.100.21", "Zed", "guess guess").await;
    assert_eq!(r.status(), 429);

    // The profile's current-password check spends the same account budget as the sign-in form.
    set_settings(&app, json!({"login.max_failures_per_user": 2})).await;
    let r = bob
        .post(app.url("/api/v2/me/password"))
        .json(&json!({"current_password": "guess", "password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = login_from(&app, "198.51.100.22", "ROBERT@example.com", "guess guess").await;
    assert_eq!(r.status(), 401);
    let r = login_from(&app, "198.51.100.23", "Robert", PASSWORD).await;
    assert_eq!(r.status(), 429, "one budget for the form and the profile");
}

#[tokio::test]
async fn failures_per_ip_are_throttled_across_usernames() {
    let app = TestApp::spawn().await;
    app.add_user("carol", 4).await;
    app.add_user("dave", 4).await;
    set_settings(&app, json!({"login.max_failures_per_ip": 3})).await;
    for name in ["u1", "u2", "u3"] {
        assert_eq!(
            login_from(&app, "203.0.113.7", name, "spray spray")
                .await
                .status(),
            401
        );
    }
    let r = login_from(&app, "203.0.113.7", "u4", "spray spray").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // The address is paused for every name, even with a right password.
    assert_eq!(
        login_from(&app, "203.0.113.7", "carol", PASSWORD)
            .await
            .status(),
        429
    );
    // Other addresses are not.
    assert_eq!(
        login_from(&app, "203.0.113.8", "dave", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        login_from(&app, "203.0.113.9", "carol", PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_do_not_escape_the_ip_throttle() {
    let app = TestApp::spawn().await;
    app.add_user("erin", 4).await;
    set_settings(
        &app,
        json!({"trusted_proxies": ["10.99.0.1"], "login.max_failures_per_ip": 2}),
    )
    .await;
    for (i, ip) in ["203.0.113.1", "203.0.113.2"].iter().enumerate() {
        let r = app
            .client()
            .post(app.url("/api/v2/login"))
            .header("x-forwarded-for", *ip)
            .header("x-real-ip", *ip)
            .json(&json!({"username": format!("x{i}"), "password": "nope nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = login_from(&app, "203.0.113.3", "erin", PASSWORD).await;
    assert_eq!(r.status(), 429, "the spoofed address must not count");
}

#[tokio::test]
async fn the_session_records_the_client_ip_through_a_trusted_proxy_only() {
    let app = TestApp::spawn().await;
    app.add_user("frank", 4).await;
    let c = app.client();
    let r = c
        .post(app.url("/api/v2/login"))
        .header("x-real-ip", "192.0.2.44")
        .header("user-agent", "TestBrowser/1.0")
        .json(&json!({"username": "frank", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, me) = app.get_json(&c, "/api/v2/me").await;
    assert_eq!(me["sessions"][0]["ip"], "192.0.2.44", "{me}");
    assert_eq!(me["sessions"][0]["user_agent"], "TestBrowser/1.0");

    set_settings(&app, json!({"trusted_proxies": "10.99.0.1"})).await;
    let c = app.client();
    c.post(app.url("/api/v2/login"))
        .header("x-real-ip", "192.0.2.45")
        .json(&json!({"username": "frank", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (_, me) = app.get_json(&c, "/api/v2/me").await;
    let current = me["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["ip"], "127.0.0.1", "{me}");
}

#[tokio::test]
async fn an_organizr_bcrypt_hash_signs_in_and_is_upgraded_to_argon2id() {
    let app = TestApp::spawn().await;
    let olga = app.add_user("olga", 4).await;
    let current = stored_hash(&app, "olga").await.unwrap();
    // PHP's password_hash() writes $2y$.
    let organizr = bcrypt::hash("organizr password", 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    app.core
        .store
        .rehash_password(olga.id, &current, &organizr)
        .await
        .unwrap();
    assert_eq!(stored_hash(&app, "olga").await.unwrap(), organizr);

    // A wrong password leaves the hash alone.
    assert_eq!(
        app.login(&app.client(), "olga", PASSWORD).await.status(),
        401
    );
    assert_eq!(stored_hash(&app, "olga").await.unwrap(), organizr);

    let r = app.login(&app.client(), "olga", "organizr password").await;
    assert_eq!(r.status(), 200);
    let upgraded = stored_hash(&app, "olga").await.unwrap();
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
    // The row in the database says the same, and the new hash works.
    let pool = db(&app).await;
    let row: (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
        .bind(olga.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(row.0, upgraded);
    assert_eq!(
        app.login(&app.client(), "olga", "organizr password")
            .await
            .status(),
        200
    );
}

/// Organizr's weakness §8.1: its session JWT was never verified, only looked up. Usher's session
/// is a random 256-bit token; the store keeps only its SHA-256, so a copy of the database opens
/// no session, and a forged or altered cookie is simply unknown.
#[tokio::test]
async fn the_store_keeps_only_the_sha256_of_a_session_token() {
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let r = app.login(&app.client(), "alice", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let token = cookie_value(&cookie_named(&r, "usher_session")).to_string();
    let pool = db(&app).await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    let expected: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored, vec![expected], "only the hash is stored");

    // One character changed: an unknown token, not a session.
    let mut forged = token.clone().into_bytes();
    forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(
        me_status(&app, &format!("usher_session={forged}")).await,
        401
    );
    assert_eq!(
        me_status(&app, &format!("usher_session={token}")).await,
        200
    );
}

/// Organizr's weaknesses §8.4, §8.12 and §8.13: an unauthenticated password "recovery" that
/// reset anyone's password, self-registration with one shared password, and an API key (`Token`
/// header or `?apikey=`) that was admin everywhere. Usher has none of them: the routes are not
/// there, and a key-looking header or parameter opens nothing.
#[tokio::test]
async fn organizr_routes_that_opened_accounts_without_a_session_are_absent() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 0).await;
    let anonymous = app.client();
    let (status, _) = send(
        &app,
        &anonymous,
        "POST",
        "/api/v2/users/recover",
        Some(json!({"email": "alice@example.com"})),
    )
    .await;
    // /api/v2/users/{id} exists for admins, so a POST there is 405: no such route either way.
    assert!(
        [404, 405].contains(&status),
        "no password recovery by e-mail alone: {status}"
    );
    assert_eq!(
        app.login(&app.client(), "alice", PASSWORD).await.status(),
        200
    );

    let (status, _) = send(
        &app,
        &anonymous,
        "POST",
        "/api/v2/users/register",
        Some(json!({"username": "mallory", "email": "m@example.com",
                    "password": "mallory-password-1", "registrationPassword": ""})),
    )
    .await;
    assert!(
        [404, 405].contains(&status),
        "no self-registration: {status}"
    );
    assert_eq!(
        app.login(&app.client(), "mallory", "mallory-password-1")
            .await
            .status(),
        401
    );

    for r in [
        bare()
            .get(app.url("/api/v2/users"))
            .header("Token", "x".repeat(20)),
        bare().get(app.url("/api/v2/users?apikey=xxxxxxxxxxxxxxxxxxxx")),
        bare()
            .get(app.url("/api/v2/auth/0"))
            .header("Token", "x".repeat(20)),
    ] {
        let status = r.send().await.unwrap().status().as_u16();
        assert_eq!(status, 401, "an API key is nothing here");
    }
}

// ---------- bad input ----------

#[tokio::test]
async fn bad_bodies_get_json_errors_never_5xx() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let url = app.url("/api/v2/login");
    let c = bare();
    let raw = |body: String, ctype: Option<&'static str>| {
        let mut req = c.post(&url).body(body);
        if let Some(t) = ctype {
            req = req.header("content-type", t);
        }
        req
    };
    let json_ct = Some("application/json");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (raw("{not json".into(), json_ct), 400, "invalid_json"),
        (raw("".into(), json_ct), 400, "invalid_json"),
        (
            raw(r#"{"username":"alice","password":"#.into(), json_ct),
            400,
            "invalid_json",
        ),
        (
            raw(r#"{"username":5,"password":"x"}"#.into(), json_ct),
            400,
            "invalid_request",
        ),
        (
            raw(r#"{"username":"alice"}"#.into(), json_ct),
            400,
            "invalid_request",
        ),
        (
            raw(
                r#"{"username":"alice","password":"x","remember":"yes"}"#.into(),
                json_ct,
            ),
            400,
            "invalid_request",
        ),
        (
            raw(
                r#"{"username":"alice","password":"x","admin":true}"#.into(),
                json_ct,
            ),
            400,
            "invalid_request",
        ),
        (raw("[]".into(), json_ct), 400, "invalid_request"),
        (
            raw(
                format!(r#"{{"username":"alice","password":"{PASSWORD}"}}"#),
                None,
            ),
            415,
            "unsupported_media_type",
        ),
        (
            raw(
                format!(r#"{{"username":"alice","password":"{PASSWORD}"}}"#),
                Some("text/plain"),
            ),
            415,
            "unsupported_media_type",
        ),
        (
            raw(
                format!(
                    r#"{{"username":"{}","password":"x"}}"#,
                    "a".repeat(70 * 1024)
                ),
                json_ct,
            ),
            413,
            "payload_too_large",
        ),
        (
            raw(r#"{"username":"","password":"x"}"#.into(), json_ct),
            400,
            "invalid_input",
        ),
        // No account can have a control character in its name or email (and PostgreSQL
        // refuses NUL in text): a clean 400, never a database error.
        (
            raw(
                r#"{"username":"ali\u0000ce","password":"x"}"#.into(),
                json_ct,
            ),
            400,
            "invalid_input",
        ),
        (
            raw(r#"{"username":"ali\nce","password":"x"}"#.into(), json_ct),
            400,
            "invalid_input",
        ),
        (
            raw(r#"{"username":"alice","password":""}"#.into(), json_ct),
            400,
            "invalid_input",
        ),
        (
            raw(
                format!(r#"{{"username":"{}","password":"x"}}"#, "é".repeat(300)),
                json_ct,
            ),
            400,
            "invalid_input",
        ),
        (
            raw(
                format!(
                    r#"{{"username":"alice","password":"{}"}}"#,
                    "p".repeat(5000)
                ),
                json_ct,
            ),
            400,
            "invalid_input",
        ),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), status, "case {i}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "case {i}"
        );
        assert!(set_cookies(&r).is_empty(), "case {i}");
        let body: Value = r.json().await.unwrap();
        assert_error(&body, code);
    }
    // A charset parameter is fine.
    let r = raw(
        format!(r#"{{"username":"alice","password":"{PASSWORD}"}}"#),
        Some("application/json; charset=utf-8"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_ids_answer_in_json() {
    let app = TestApp::spawn().await;
    let c = app.signed_in("alice", 4).await;
    for path in [
        "/api/v2/nope",
        "/api/v1/login",
        "/api/v2/me/nope",
        "/api/v2/users/1/x",
    ] {
        let (status, body) = send(&app, &c, "GET", path, None).await;
        assert_eq!(status, 404, "{path}");
        assert_error(&body, "not_found");
    }
    for (method, path) in [
        ("GET", "/api/v2/login"),
        ("PUT", "/api/v2/login"),
        ("POST", "/api/v2/me"),
        ("DELETE", "/api/v2/me"),
        ("GET", "/api/v2/me/sessions/1"),
        ("PUT", "/api/v2/users"),
        ("PUT", "/api/v2/groups"),
        ("PUT", "/api/v2/tabs/mine"),
        ("PUT", "/api/v2/settings"),
        ("POST", "/healthz"),
    ] {
        let (status, body) = send(&app, &c, method, path, None).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_error(&body, "method_not_allowed");
    }
    // An id that is not a number is a JSON 400, not a text/plain one.
    for (method, path) in [
        ("DELETE", "/api/v2/me/sessions/abc"),
        ("DELETE", "/api/v2/me/sessions/99999999999999999999"),
    ] {
        let (status, body) = send(&app, &c, method, path, None).await;
        assert_eq!(status, 400, "{method} {path}");
        assert_error(&body, "invalid_request");
    }
}

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let r = bare().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "store": "up"}));
}

// ---------- cookies and sign-out ----------

#[tokio::test]
async fn garbage_revoked_and_expired_cookies_are_401() {
    let app = TestApp::spawn().await;
    let grace = app.add_user("grace", 4).await;
    for cookie in [
        "usher_session=garbage",
        "usher_session=",
        "usher_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "usher_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.",
        "other=1",
    ] {
        let r = bare()
            .get(app.url("/api/v2/me"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{cookie}");
        let body: Value = r.json().await.unwrap();
        assert_error(&body, "unauthenticated");
    }

    // Revoked by an administrator.
    let r = app.login(&app.client(), "grace", PASSWORD).await;
    let revoked = format!(
        "usher_session={}",
        cookie_value(&cookie_named(&r, "usher_session"))
    );
    assert_eq!(me_status(&app, &revoked).await, 200);
    let sessions = app.core.sessions_of(Some(grace.id)).await.unwrap();
    app.core
        .revoke_session(sessions[0].id, None, &Actor::cli())
        .await
        .unwrap();
    assert_eq!(me_status(&app, &revoked).await, 401);
    assert_eq!(proxy_status(&app, &revoked).await, 401);

    // Expired: the row says so (set straight in the database, as time would).
    let r = app.login(&app.client(), "grace", PASSWORD).await;
    let expired = format!(
        "usher_session={}",
        cookie_value(&cookie_named(&r, "usher_session"))
    );
    let pool = db(&app).await;
    let n = sqlx::query("UPDATE sessions SET expires_at = $1 WHERE user_id = $2")
        .bind(now() - 60)
        .bind(grace.id)
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    pool.close().await;
    assert_eq!(n, 1);
    assert_eq!(me_status(&app, &expired).await, 401);
    assert_eq!(proxy_status(&app, &expired).await, 401);
    assert!(app
        .core
        .sessions_of(Some(grace.id))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn logout_by_post_or_get_revokes_and_clears_the_cookie() {
    let app = TestApp::spawn().await;
    app.add_user("heidi", 4).await;
    for method in ["POST", "GET"] {
        let c = app.client();
        let r = app.login(&c, "heidi", PASSWORD).await;
        let cookie = format!(
            "usher_session={}",
            cookie_value(&cookie_named(&r, "usher_session"))
        );
        assert_eq!(proxy_status(&app, &cookie).await, 200);
        let r = c
            .request(method.parse().unwrap(), app.url("/api/v2/logout"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method}");
        let sc = cookie_named(&r, "usher_session");
        assert_eq!(cookie_value(&sc), "", "{sc}");
        assert_eq!(attr(&sc, "Max-Age").as_deref(), Some("0"), "{sc}");
        assert_eq!(attr(&sc, "Path").as_deref(), Some("/"), "{sc}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["signed_out"], true);
        // The jar dropped it, and replaying the old value no longer works anywhere.
        assert_eq!(app.get_json(&c, "/api/v2/me").await.0, 401);
        assert_eq!(me_status(&app, &cookie).await, 401, "{method}");
        assert_eq!(proxy_status(&app, &cookie).await, 401, "{method}");
    }
    // Signing out without a session is fine and still clears the cookie.
    for method in ["POST", "GET"] {
        let r = bare()
            .request(method.parse().unwrap(), app.url("/api/v2/logout"))
            .header("cookie", "usher_session=garbage")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            attr(&cookie_named(&r, "usher_session"), "Max-Age").as_deref(),
            Some("0")
        );
    }
}

// ---------- /api/v2/me ----------

#[tokio::test]
async fn me_shows_user_group_and_sessions_and_revokes_only_my_own() {
    let app = TestApp::spawn().await;
    let ivan = app.add_user("ivan", 3).await;
    let laptop = app.client();
    let phone = app.client();
    assert_eq!(app.login(&laptop, "ivan", PASSWORD).await.status(), 200);
    assert_eq!(app.login(&phone, "ivan", PASSWORD).await.status(), 200);
    let judy = app.signed_in("judy", 4).await;

    let (status, me) = app.get_json(&laptop, "/api/v2/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["id"], ivan.id);
    assert_eq!(me["user"]["username"], "ivan");
    assert_eq!(me["group"], json!({"id": 3, "name": "Power User"}));
    assert_eq!(me["is_admin"], false);
    let sessions = me["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{me}");
    assert!(sessions.iter().all(|s| s["user_id"] == ivan.id));
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(!me.to_string().contains("token"), "{me}");
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_i64()
        .unwrap();

    // The phone's session is the one not current for the laptop.
    let (_, phone_me) = app.get_json(&phone, "/api/v2/me").await;
    let phone_current = phone_me["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(phone_current, other);

    // Someone else's session: 404, and it keeps working.
    let (_, judy_me) = app.get_json(&judy, "/api/v2/me").await;
    let judy_session = judy_me["sessions"][0]["id"].as_i64().unwrap();
    let (status, body) = send(
        &app,
        &laptop,
        "DELETE",
        &format!("/api/v2/me/sessions/{judy_session}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    assert_eq!(app.get_json(&judy, "/api/v2/me").await.0, 200);
    let (status, _) = send(&app, &laptop, "DELETE", "/api/v2/me/sessions/987654", None).await;
    assert_eq!(status, 404);

    // My other session: gone at once.
    let (status, _) = send(
        &app,
        &laptop,
        "DELETE",
        &format!("/api/v2/me/sessions/{other}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(app.get_json(&phone, "/api/v2/me").await.0, 401);
    let (_, me) = app.get_json(&laptop, "/api/v2/me").await;
    assert_eq!(me["sessions"].as_array().unwrap().len(), 1);

    // Anonymous.
    let (status, body) = app.get_json(&app.client(), "/api/v2/me").await;
    assert_eq!(status, 401);
    assert_error(&body, "unauthenticated");
    let (status, _) = send(&app, &bare(), "DELETE", "/api/v2/me/sessions/1", None).await;
    assert_eq!(status, 401);
}
