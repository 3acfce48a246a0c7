//! End to end through a real nginx (Debian package) with the documented Organizr-style snippet
//! (docs/examples/nginx-organizr-style.conf, loaded verbatim).

use serde_json::{json, Value};

use crate::support::echo::spawn_echo;
use crate::support::nginx::Nginx;
use crate::support::{TestApp, PASSWORD};

const SNIPPET: &str = include_str!("../../docs/examples/nginx-organizr-style.conf");

struct Stack {
    app: TestApp,
    nginx: Nginx,
    _echo: tokio::task::JoinHandle<()>,
}

async fn stack() -> Stack {
    let app = TestApp::spawn().await;
    let (echo, echo_task) = spawn_echo().await;
    let conf = SNIPPET
        .replace("127.0.0.1:8420", &app.addr.to_string())
        .replace("127.0.0.1:9000", &echo.to_string())
        .replace("listen 127.0.0.1:8080", "listen 127.0.0.1:{{PORT}}");
    assert_ne!(
        conf, SNIPPET,
        "the snippet's placeholders changed; update this test"
    );
    let nginx = Nginx::start(&conf).await;
    Stack {
        app,
        nginx,
        _echo: echo_task,
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn login_via_nginx(s: &Stack, c: &reqwest::Client, user: &str) {
    let r = c
        .post(s.nginx.url("/api/v2/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "login through nginx; nginx error log:\n{}",
        s.nginx.error_log()
    );
}

/// GET through nginx: status and the headers the app received (when it was reached).
async fn get(s: &Stack, c: &reqwest::Client, path: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut req = c.get(s.nginx.url(path));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let body = if status == 200 {
        r.json::<Value>().await.unwrap()["headers"].clone()
    } else {
        Value::Null
    };
    (status, body)
}

#[tokio::test]
async fn unauthenticated_requests_are_refused_and_never_reach_the_app() {
    let s = stack().await;
    let anon = browser();
    let (status, _) = get(&s, &anon, "/app/", &[("X-WEBAUTH-USER", "admin")]).await;
    assert_eq!(status, 401);
    let (status, _) = get(&s, &anon, "/admin-app/", &[]).await;
    assert_eq!(status, 401);
    let (status, _) = get(
        &s,
        &anon,
        "/app/",
        &[(
            "Cookie",
            "usher_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )],
    )
    .await;
    assert_eq!(status, 401);
    // Everyone may see the public app, but a forged identity header is dropped on the way.
    let (status, headers) = get(&s, &anon, "/public-app/", &[("X-WEBAUTH-USER", "admin")]).await;
    assert_eq!(status, 200);
    assert!(
        headers.get("x-webauth-user").is_none(),
        "forged header reached the app: {headers}"
    );
    assert!(
        !s.nginx
            .error_log()
            .contains("auth request unexpected status"),
        "{}",
        s.nginx.error_log()
    );
}

#[tokio::test]
async fn signed_in_user_reaches_the_app_with_identity_headers() {
    let s = stack().await;
    s.app.add_user("alice", 4).await;
    let c = browser();
    login_via_nginx(&s, &c, "alice").await;
    let (status, headers) = get(&s, &c, "/app/dashboard", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-webauth-user"], "alice");
    assert_eq!(headers["x-webauth-email"], "alice@example.com");
    assert_eq!(headers["x-webauth-group"], "4");
    // A client-sent identity header is replaced, never passed along.
    let (status, headers) = get(&s, &c, "/app/", &[("X-WEBAUTH-USER", "admin")]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-webauth-user"], "alice");
    // Group 4 is refused at /auth-0.
    let (status, _) = get(&s, &c, "/admin-app/", &[]).await;
    assert_eq!(status, 401);
    // The session cookie reached the app too (same host), but Usher's cookie is HttpOnly.
    let (_, headers) = get(&s, &c, "/public-app/", &[]).await;
    assert_eq!(headers["x-webauth-user"], "alice");
}

#[tokio::test]
async fn admin_passes_everywhere_and_sign_out_closes_every_app() {
    let s = stack().await;
    s.app.add_user("root", 0).await;
    let c = browser();
    login_via_nginx(&s, &c, "root").await;
    for path in ["/app/", "/admin-app/", "/public-app/"] {
        let (status, headers) = get(&s, &c, path, &[]).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["x-webauth-user"], "root", "{path}");
    }
    let r = c.post(s.nginx.url("/api/v2/logout")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for path in ["/app/", "/admin-app/"] {
        assert_eq!(get(&s, &c, path, &[]).await.0, 401, "{path} after sign-out");
    }
    let (status, headers) = get(&s, &c, "/public-app/", &[]).await;
    assert_eq!(status, 200);
    assert!(headers.get("x-webauth-user").is_none());
}

#[tokio::test]
async fn locking_a_user_closes_the_apps_on_the_next_request() {
    let s = stack().await;
    let user = s.app.add_user("mallory", 2).await;
    let c = browser();
    login_via_nginx(&s, &c, "mallory").await;
    assert_eq!(get(&s, &c, "/app/", &[]).await.0, 200);
    s.app
        .core
        .edit_user(
            user.id,
            usher::auth::accounts::EditUser {
                locked: Some(true),
                ..Default::default()
            },
            &usher::auth::accounts::Acting::cli(),
        )
        .await
        .unwrap();
    assert_eq!(get(&s, &c, "/app/", &[]).await.0, 401);
}
