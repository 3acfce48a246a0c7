//! What the generated nginx and Caddy configs tell Usher and the app, through the real proxies:
//! the host nginx chose (not the raw Host header), a host-name upstream without a `resolver`,
//! client identity headers never reaching the app through Caddy, and a client's `X-Real-IP`
//! passed on by Caddy not dodging the per-IP sign-in throttle.

use reqwest::header::{ACCEPT, HOST};
use serde_json::{json, Value};
use usher::auth::accounts::{Acting, CreateUser};
use usher::proxy_config::{generate, Mode, Options, Proxy};

use crate::api_login::set_settings;
use crate::e2e_proxies::{group_stack, session_cookie, snippet, through};
use crate::hardening::{port, send_raw};
use crate::support::caddy::Caddy;
use crate::support::echo::spawn_echo;
use crate::support::nginx::Nginx;
use crate::support::{TestApp, PASSWORD};

/// Every identity header Usher or an app knows, forged by the client.
const FORGED: &[(&str, &str)] = &[
    ("X-WEBAUTH-USER", "mallory"),
    ("X-WEBAUTH-EMAIL", "mallory@evil.example"),
    ("X-WEBAUTH-GROUP", "0"),
    ("Remote-User", "mallory"),
    ("Remote-Email", "mallory@evil.example"),
    ("Remote-Groups", "Admin"),
    ("Remote-Name", "mallory"),
    ("X-Organizr-User", "mallory"),
    ("X-Organizr-Email", "mallory@evil.example"),
    ("X-Organizr-Group", "0"),
];

/// An identity header as the app saw it: absent and empty are the same (nobody).
fn seen(headers: &Value, name: &str) -> String {
    headers
        .get(name.to_ascii_lowercase())
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn nginx_host_rules_see_the_host_of_an_absolute_request_line() {
    let s = group_stack(Proxy::Nginx).await;
    set_settings(
        &s.app,
        json!({"proxy.rules": [{"action": "deny", "hosts": ["g999.example.com"]}]}),
    )
    .await;
    // The rule closes the otherwise open app…
    assert_eq!(
        through(&s, "g999.example.com", "/", None, &[]).await.status,
        401
    );
    assert_eq!(
        through(&s, "g4.example.com", "/", None, &[]).await.status,
        401
    );
    // …also when the request line names it and the Host header names another host: nginx
    // picks g999's server block by the request line, so that is the host Usher must judge.
    let raw = "GET http://g999.example.com/x HTTP/1.1\r\nHost: public.example.com\r\n\
               Connection: close\r\n\r\n";
    let a = send_raw(port(&s), raw).await;
    assert!(
        !a.body.contains("\"headers\""),
        "the denied app was reached: {}\n{}",
        a.head,
        a.body
    );
    assert_eq!(a.status, 401, "{}\n{}", a.head, s.proxy_log());
    // The same absolute form at a host no rule names still passes (the test is not vacuous).
    set_settings(&s.app, json!({"proxy.rules": []})).await;
    let a = send_raw(port(&s), raw).await;
    assert_eq!(a.status, 200, "{}", a.head);
    assert!(a.body.contains("\"headers\""));
}

#[tokio::test]
async fn nginx_snippet_with_a_host_name_for_usher_works_without_a_resolver() {
    let app = TestApp::spawn().await;
    let (echo, _task) = spawn_echo().await;
    // A name nginx must look up, as `http://usher:8420` is in Docker.
    let usher = format!("http://localhost:{}", app.addr.port());
    let conf = snippet(
        Proxy::Nginx,
        "grafana",
        4,
        Mode::Subdomain,
        &format!("http://{echo}"),
        &usher,
    )
    .replace("listen 80;", "listen 127.0.0.1:{{PORT}};");
    assert!(
        !conf.lines().any(|l| l.trim_start().starts_with("resolver")),
        "{conf}"
    );
    let nginx = Nginx::start(&conf).await;
    set_settings(
        &app,
        json!({"public_url": "https://usher.example.com", "cookie_domain": "example.com"}),
    )
    .await;
    let alice = session_cookie(&app, "alice", 4).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(nginx.url("/d/home"))
        .header(HOST, "grafana.example.com")
        .header("cookie", &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", nginx.error_log());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["headers"]["x-webauth-user"], "alice");
    let r = client
        .get(nginx.url("/d/home"))
        .header(HOST, "grafana.example.com")
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", nginx.error_log());
    assert!(
        !nginx.error_log().contains("no resolver defined"),
        "{}",
        nginx.error_log()
    );
}

/// `nginx -t` with Usher behind a host name that an `upstream` block points at 127.0.0.1.
#[test]
fn nginx_snippet_with_an_upstream_block_name_passes_nginx_t() {
    let conf = snippet(
        Proxy::Nginx,
        "grafana",
        4,
        Mode::Subdomain,
        "http://127.0.0.1:3000",
        "http://usher",
    )
    .replace("listen 80;", "listen 127.0.0.1:{{PORT}};");
    let conf = format!("upstream usher {{ server 127.0.0.1:8420; }}\n{conf}");
    assert!(
        conf.contains("proxy_pass http://usher/api/v2/auth/;"),
        "{conf}"
    );
    crate::support::nginx::nginx_test_http_block(&conf)
        .unwrap_or_else(|e| panic!("nginx -t: {e}\n{conf}"));
}

/// The generated Caddyfile removes every client copy of an identity header before
/// forward_auth, inside a `route` (whose order Caddy keeps): Caddy versions that do not copy an
/// empty answer would otherwise let the client's copy through.
#[test]
fn caddy_snippets_strip_client_identity_headers_before_forward_auth() {
    for mode in [Mode::Subdomain, Mode::Subdirectory] {
        for header_auth in [false, true] {
            let caddy = generate(&Options {
                proxy: Proxy::Caddy,
                app: "grafana".into(),
                upstream: None,
                group: 4,
                mode,
                header_auth,
                usher: "http://127.0.0.1:8420".into(),
                domain: "example.com".into(),
            })
            .unwrap();
            let route = caddy.find("route {").expect("a route block");
            let auth = caddy.find("forward_auth").expect("forward_auth");
            assert!(route < auth, "{caddy}");
            for (name, _) in FORGED {
                let strip = caddy
                    .find(&format!("request_header -{name}\n"))
                    .unwrap_or_else(|| panic!("{name} not removed:\n{caddy}"));
                assert!(route < strip && strip < auth, "{name}:\n{caddy}");
            }
        }
    }
}

#[tokio::test]
async fn caddy_never_passes_a_client_identity_header_to_the_app() {
    let s = group_stack(Proxy::Caddy).await;
    s.app
        .core
        .create_user(
            CreateUser {
                username: "nomail".into(),
                email: None,
                password: Some(PASSWORD.into()),
                group_id: Some(4),
                ..Default::default()
            },
            &Acting::cli(),
        )
        .await
        .unwrap();
    let r = s.app.login(&s.app.client(), "nomail", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let nomail = r.headers()["set-cookie"].to_str().unwrap();
    let nomail = nomail.split(';').next().unwrap().to_string();
    // An anonymous pass by a rule: nobody signed in at the group-4 app from this network.
    set_settings(
        &s.app,
        json!({"proxy.rules": [{"action": "allow", "networks": ["127.0.0.1"], "paths": ["/open"]}]}),
    )
    .await;
    for (what, host, path, cookie) in [
        ("anonymous at group 999", "g999.example.com", "/", None),
        (
            "anonymous by an allow rule",
            "g4.example.com",
            "/open",
            None,
        ),
        (
            "user without e-mail",
            "g4.example.com",
            "/",
            Some(nomail.as_str()),
        ),
    ] {
        let r = through(&s, host, path, cookie, FORGED).await;
        assert_eq!(r.status, 200, "{what}\n{}", s.proxy_log());
        let h = &r.app_headers;
        for (name, _) in FORGED {
            let value = seen(h, name);
            assert!(
                !value.contains("mallory") && !value.contains("Admin") && value != "0",
                "{what}: the client's {name} reached the app: {h}"
            );
        }
        if cookie.is_some() {
            assert_eq!(seen(h, "X-WEBAUTH-USER"), "nomail", "{what}: {h}");
            assert_eq!(seen(h, "X-WEBAUTH-GROUP"), "4", "{what}: {h}");
        } else {
            assert_eq!(seen(h, "X-WEBAUTH-USER"), "", "{what}: {h}");
        }
    }
}

#[tokio::test]
async fn a_spoofed_x_real_ip_through_caddy_does_not_dodge_the_login_throttle() {
    let app = TestApp::spawn().await;
    app.add_user("erin", 4).await;
    set_settings(&app, json!({"login.max_failures_per_ip": 2})).await;
    let (echo, _task) = spawn_echo().await;
    let conf = snippet(
        Proxy::Caddy,
        "media",
        4,
        Mode::Subdirectory,
        &format!("http://{echo}"),
        &format!("http://{}", app.addr),
    )
    .replace("example.com {", "http://127.0.0.1:{{PORT}} {");
    let caddy = Caddy::start(&conf).await;
    let client = reqwest::Client::new();
    let login = |ip: &'static str, user: String, password: &'static str| {
        client
            .post(caddy.url("/api/v2/login"))
            .header("x-real-ip", ip)
            .json(&json!({"username": user, "password": password}))
            .send()
    };
    // Every failure claims another address, each under another name (no per-user limit).
    for (i, ip) in ["203.0.113.1", "203.0.113.2"].into_iter().enumerate() {
        let r = login(ip, format!("x{i}"), "nope nope").await.unwrap();
        assert_eq!(r.status(), 401, "{}", caddy.log());
    }
    let r = login("203.0.113.3", "erin".into(), PASSWORD).await.unwrap();
    assert_eq!(
        r.status(),
        429,
        "a client-chosen X-Real-IP must not count as a new address"
    );
}
