//! Cross-site request protection over real HTTP: a browser's state-changing request from
//! another site is refused with a JSON 403 before it does anything; same-origin requests,
//! requests without browser headers and every proxy-auth request pass as before.

use reqwest::{Client, Response};
use serde_json::{json, Value};

use crate::api_login::{bare, set_settings};
use crate::support::{assert_error, TestApp, PASSWORD};

const EVIL: &str = "https://evil.example";

/// `POST /api/v2/login` with extra request headers.
async fn login_with(
    app: &TestApp,
    client: &Client,
    name: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut req = client
        .post(app.url("/api/v2/login"))
        .json(&json!({ "username": name, "password": PASSWORD }));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("login request")
}

/// Status and JSON body of a response.
async fn status_and_body(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts a refusal: 403, the JSON error code, and no cookie handed out.
async fn assert_refused(r: Response, what: &str) {
    assert!(
        r.headers().get("set-cookie").is_none(),
        "{what}: a refused request set a cookie"
    );
    let (status, body) = status_and_body(r).await;
    assert_eq!(status, 403, "{what}: {body}");
    assert_error(&body, "cross_origin_refused");
}

/// A refused form post: 403 with a page that says why (people see it, not a script).
async fn assert_refused_page(r: Response, what: &str) {
    assert!(
        r.headers().get("set-cookie").is_none(),
        "{what}: a refused request set a cookie"
    );
    assert_eq!(r.status(), 403, "{what}");
    let html = r.text().await.unwrap();
    assert!(html.contains("Request refused"), "{what}: {html}");
    assert!(
        html.contains("Cross-site request refused"),
        "{what}: {html}"
    );
}

/// This server's own origin as a browser would send it.
fn own_origin(app: &TestApp) -> String {
    app.url("")
}

#[tokio::test]
async fn cross_site_login_is_refused_and_creates_no_session() {
    let app = TestApp::spawn().await;
    let mallory = app.add_user("mallory", 4).await;
    let c = app.client();
    let r = login_with(&app, &c, "mallory", &[("origin", EVIL)]).await;
    assert_refused(r, "Origin evil").await;
    let sessions = app.core.sessions_of(Some(mallory.id)).await.unwrap();
    assert!(sessions.is_empty(), "a session was created: {sessions:?}");
    assert_eq!(app.get_json(&c, "/api/v2/me").await.0, 401);

    // The same request from Usher's own page signs in.
    let r = login_with(&app, &c, "mallory", &[("origin", &own_origin(&app))]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get_json(&c, "/api/v2/me").await.0, 200);
}

#[tokio::test]
async fn cross_site_session_revocation_is_refused_and_the_session_keeps_working() {
    let app = TestApp::spawn().await;
    app.add_user("ivan", 4).await;
    let laptop = app.client();
    let phone = app.client();
    assert_eq!(login_with(&app, &laptop, "ivan", &[]).await.status(), 200);
    assert_eq!(login_with(&app, &phone, "ivan", &[]).await.status(), 200);
    let (_, me) = app.get_json(&laptop, "/api/v2/me").await;
    let phone_session = me["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .expect("the phone's session")["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v2/me/sessions/{phone_session}");

    let r = laptop
        .delete(app.url(&path))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_refused(r, "DELETE cross-site").await;
    assert_eq!(app.get_json(&phone, "/api/v2/me").await.0, 200);

    // From Usher's own page it goes through.
    let r = laptop
        .delete(app.url(&path))
        .header("sec-fetch-site", "same-origin")
        .header("origin", own_origin(&app))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.get_json(&phone, "/api/v2/me").await.0, 401);
}

#[tokio::test]
async fn what_browsers_send_from_usher_itself_passes() {
    let app = TestApp::spawn().await;
    app.add_user("olga", 4).await;
    let own = own_origin(&app);
    for headers in [
        vec![("origin", own.as_str())],
        vec![("sec-fetch-site", "same-origin"), ("origin", own.as_str())],
        // Typed into the address bar or a bookmark: no initiating site.
        vec![("sec-fetch-site", "none")],
        // Neither header: curl, scripts, the CLI.
        vec![],
    ] {
        let r = login_with(&app, &app.client(), "olga", &headers).await;
        assert_eq!(r.status(), 200, "{headers:?}");
    }
}

#[tokio::test]
async fn other_sites_null_and_junk_are_refused() {
    let app = TestApp::spawn().await;
    app.add_user("petra", 4).await;
    let own = own_origin(&app);
    for headers in [
        // A sibling subdomain is another origin; Sec-Fetch-Site decides before Origin.
        vec![("sec-fetch-site", "same-site"), ("origin", own.as_str())],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "junk")],
        vec![("origin", "null")],
        vec![("origin", "not a url")],
        vec![("origin", EVIL)],
        // Same host, another port: another origin.
        vec![("origin", "http://127.0.0.1:1")],
    ] {
        let r = login_with(&app, &app.client(), "petra", &headers).await;
        assert_refused(r, &format!("{headers:?}")).await;
    }
    let petra = app.core.store.find_user_for_login("petra").await.unwrap();
    let id = petra.expect("petra exists").0.id;
    assert!(app.core.sessions_of(Some(id)).await.unwrap().is_empty());
}

#[tokio::test]
async fn pages_and_admin_changes_are_protected_too_but_reads_are_not() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;

    // The sign-in form and the sign-out button.
    let r = app
        .client()
        .post(app.url("/login"))
        .header("origin", EVIL)
        .form(&[("username", "root"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_refused_page(r, "POST /login").await;
    let r = admin
        .post(app.url("/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_refused_page(r, "POST /logout").await;
    assert_eq!(app.get_json(&admin, "/api/v2/me").await.0, 200);

    // An admin's settings change from another site leaves the setting alone.
    let r = admin
        .patch(app.url("/api/v2/settings"))
        .header("origin", EVIL)
        .json(&json!({"remember_days": 30}))
        .send()
        .await
        .unwrap();
    assert_refused(r, "PATCH /api/v2/settings").await;
    assert_eq!(app.core.settings().remember_days, 7);

    // Reads from anywhere answer as usual (CORS, not this, keeps their answers from other sites).
    let r = admin
        .get(app.url("/api/v2/me"))
        .header("origin", EVIL)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn proxy_auth_answers_as_usual_whatever_the_method_and_origin() {
    let app = TestApp::spawn().await;
    let alice = app.signed_in("alice", 4).await;
    let anonymous = bare();
    for path in [
        "/api/v2/auth/4",
        "/api/v2/auth?group=4",
        "/api/v2/auth-4",
        "/api/v2/organizr-auth/4",
        "/api/?v1/auth&group=4",
    ] {
        for method in ["POST", "DELETE", "PUT"] {
            for (who, client, expected) in [("alice", &alice, 200), ("nobody", &anonymous, 401)] {
                let r = client
                    .request(method.parse().unwrap(), app.url(path))
                    .header("origin", EVIL)
                    .header("sec-fetch-site", "cross-site")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), expected, "{method} {path} as {who}");
            }
        }
    }
}

#[tokio::test]
async fn forwarded_host_is_believed_only_from_a_trusted_proxy() {
    let app = TestApp::spawn().await;
    app.add_user("quinn", 4).await;
    let proxied = [
        ("origin", "https://usher.example.com"),
        ("x-forwarded-host", "usher.example.com"),
    ];
    // The test client connects from loopback, trusted by default.
    let r = login_with(&app, &app.client(), "quinn", &proxied).await;
    assert_eq!(r.status(), 200);

    set_settings(&app, json!({"trusted_proxies": ["10.99.0.1"]})).await;
    let r = login_with(&app, &app.client(), "quinn", &proxied).await;
    assert_refused(r, "X-Forwarded-Host from an untrusted peer").await;
}

#[tokio::test]
async fn public_url_names_usher_behind_a_proxy() {
    let app = TestApp::spawn().await;
    app.add_user("rita", 4).await;
    let origin = [("origin", "https://usher.example.com")];
    let r = login_with(&app, &app.client(), "rita", &origin).await;
    assert_refused(r, "before public_url is set").await;

    set_settings(&app, json!({"public_url": "https://usher.example.com"})).await;
    let r = login_with(&app, &app.client(), "rita", &origin).await;
    assert_eq!(r.status(), 200);
    let r = login_with(
        &app,
        &app.client(),
        "rita",
        &[("origin", "http://usher.example.com")],
    )
    .await;
    assert_refused(r, "public_url's host over another scheme").await;
}
