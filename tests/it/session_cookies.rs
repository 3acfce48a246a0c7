//! The session cookie and `public_url` (docs/security.md, "Session cookie and public URL"):
//! several session cookies naming different people sign nobody in, cookie names browsers would
//! drop are refused with the settings that make them so, and `public_url` is an origin.

use reqwest::Client;
use serde_json::{json, Value};

use crate::api_login::{attr, cookie_named, set_settings};
use crate::e2e_proxies::session_cookie;
use crate::support::{assert_error, TestApp, PASSWORD};

/// `GET /api/v2/auth/4` (what nginx asks) with this `Cookie` header: status and user header.
async fn proxy_auth_as(app: &TestApp, cookie: &str) -> (u16, Option<String>) {
    proxy_auth_at(app, "/api/v2/auth/4", cookie).await
}

/// A proxy-auth `path` with this `Cookie` header: status and user header.
pub(crate) async fn proxy_auth_at(
    app: &TestApp,
    path: &str,
    cookie: &str,
) -> (u16, Option<String>) {
    let r = Client::new()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let user = r
        .headers()
        .get("x-organizr-user")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), user)
}

#[tokio::test]
async fn session_cookies_of_two_people_sign_nobody_in() {
    let app = TestApp::spawn().await;
    let alice = session_cookie(&app, "alice", 4).await;
    let bob = session_cookie(&app, "bob", 4).await;
    let r = app.login(&app.client(), "alice", PASSWORD).await;
    let alice_again = cookie_named(&r, "usher_session");
    let alice_again = alice_again.split(';').next().unwrap();
    // One cookie, or two of the same person (host-only and domain), or a stale one: that person.
    for cookie in [
        alice.clone(),
        format!("{alice}; {alice_again}"),
        format!("usher_session=stale; {alice}"),
        format!("{alice}; usher_session=stale"),
    ] {
        assert_eq!(
            proxy_auth_as(&app, &cookie).await,
            (200, Some("alice".into())),
            "{cookie}"
        );
    }
    // A cookie a sibling subdomain planted (a longer path, so the browser sends it first),
    // beside the person's own, in either order; or more cookies than a browser keeps.
    for cookie in [
        format!("{bob}; {alice}"),
        format!("{alice}; {bob}"),
        format!("usher_session=x; usher_session=y; {bob}; {alice}"),
        format!("usher_session=x; usher_session=y; usher_session=z; {alice}"),
    ] {
        assert_eq!(proxy_auth_as(&app, &cookie).await, (401, None), "{cookie}");
        // Usher's own pages and API decide the same way.
        let r = Client::new()
            .get(app.url("/api/v2/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{cookie}");
    }
}

/// PATCHes settings with this `Cookie` header; the status and the message for each refused
/// key.
async fn patch(app: &TestApp, cookie: &str, body: Value) -> (u16, Value) {
    let r = Client::new()
        .patch(app.url("/api/v2/settings"))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status != 200 {
        assert_error(&body, "invalid_setting");
    }
    (status, body["error"]["fields"].clone())
}

#[tokio::test]
async fn public_url_is_scheme_host_and_port_only() {
    let app = TestApp::spawn().await;
    let admin = session_cookie(&app, "root", 0).await;
    for url in [
        "https://usher.example.com/usher",
        "https://usher.example.com/?x=1",
        "https://usher.example.com?",
        "https://usher.example.com/#top",
    ] {
        let (status, fields) = patch(&app, &admin, json!({ "public_url": url })).await;
        assert_eq!(status, 400, "{url}");
        let message = fields["public_url"].as_str().unwrap_or_default();
        assert!(message.contains("public_url"), "{url}: {fields}");
    }
    assert_eq!(app.core.settings().public_url, None);
    let (status, _) = patch(
        &app,
        &admin,
        json!({"public_url": "https://Usher.Example.com:8443/"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.core.settings().shown("public_url"),
        "https://usher.example.com:8443"
    );
}

#[tokio::test]
async fn cookie_names_browsers_would_drop_are_refused_whichever_setting_comes_second() {
    let app = TestApp::spawn().await;
    let admin = session_cookie(&app, "root", 0).await;
    // __Secure- and __Host- need a Secure cookie, which needs an https public_url.
    for name in ["__Secure-usher", "__Host-usher", "__host-usher"] {
        let (status, fields) = patch(&app, &admin, json!({ "cookie_name": name })).await;
        assert_eq!(status, 400, "{name}");
        let message = fields["cookie_name"].as_str().unwrap();
        assert!(message.contains("public_url"), "{message}");
    }
    set_settings(
        &app,
        json!({"public_url": "https://usher.example.com", "cookie_domain": "example.com"}),
    )
    .await;
    // __Host- cannot go with cookie_domain: set second…
    let (status, fields) = patch(&app, &admin, json!({"cookie_name": "__Host-usher"})).await;
    assert_eq!(status, 400);
    let message = fields["cookie_name"].as_str().unwrap();
    assert!(
        message.contains("cookie_domain") && message.contains("__Host-"),
        "{message}"
    );
    let (status, fields) = patch(
        &app,
        &admin,
        json!({"cookie_domain": "example.com", "cookie_name": "__Host-x"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(fields["cookie_domain"].is_string() && fields["cookie_name"].is_string());
    // …or first, with cookie_domain set second.
    let (status, _) = patch(
        &app,
        &admin,
        json!({"cookie_domain": null, "cookie_name": "__Host-usher"}),
    )
    .await;
    assert_eq!(status, 200);
    let admin = admin.replace("usher_session=", "__Host-usher=");
    let (status, fields) = patch(&app, &admin, json!({"cookie_domain": "example.com"})).await;
    assert_eq!(status, 400);
    let message = fields["cookie_domain"].as_str().unwrap();
    assert!(message.contains("cookie_name"), "{message}");
    // Going back to http with a __Host- name is refused on public_url.
    let (status, fields) = patch(&app, &admin, json!({"public_url": "http://usher.lan"})).await;
    assert_eq!(status, 400);
    assert!(fields["public_url"]
        .as_str()
        .unwrap()
        .contains("cookie_name"));
    // The accepted __Host- cookie is one a browser keeps: Secure, Path=/, no Domain.
    app.add_user("alice", 4).await;
    let r = app.login(&app.client(), "alice", PASSWORD).await;
    let set = cookie_named(&r, "__Host-usher");
    assert!(attr(&set, "Secure").is_some(), "{set}");
    assert_eq!(attr(&set, "Path").as_deref(), Some("/"), "{set}");
    assert_eq!(attr(&set, "Domain"), None, "{set}");
}
