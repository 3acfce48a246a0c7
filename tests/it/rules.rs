//! `proxy.rules` end to end: allow/deny by user, group, network, host and path, through the
//! real nginx running the generated snippets (which tell Usher the host and path).

use reqwest::header::ACCEPT;
use serde_json::{json, Map, Value};
use usher::proxy_config::Proxy;

use crate::api_login::set_settings;
use crate::e2e_proxies::{group_stack, session_cookie, through, Stack};
use crate::hardening::{port, send_raw, Answer};

#[tokio::test]
async fn rules_decide_before_the_group_number_first_match_wins() {
    let s = group_stack(Proxy::Nginx).await;
    let root = session_cookie(&s.app, "root", 0).await;
    let alice = session_cookie(&s.app, "alice", 4).await;
    let gus = session_cookie(&s.app, "gus", 999).await;
    // The documented example (docs/proxies/rules.md), on this test's host names.
    let rules = include_str!("../../docs/examples/proxy-rules.json")
        .replace("\"kid\"", "\"ALICE\"")
        .replace("overseerr.example.com", "g998.example.com")
        .replace("grafana.example.com", "g0.example.com")
        .replace("tautulli.example.com", "g4.example.com");
    let rules: Value = serde_json::from_str(&rules).expect("the documented rules are JSON");
    set_settings(&s.app, json!({ "proxy.rules": rules })).await;
    let html = [(ACCEPT.as_str(), "text/html")];
    // A deny rule for one user; others keep their group rights.
    assert_eq!(
        through(&s, "g998.example.com", "/", Some(&alice), &[])
            .await
            .status,
        401
    );
    let r = through(&s, "g998.example.com", "/", Some(&root), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.app_headers["x-webauth-user"], "root");
    // An allow rule by host and path glob opens part of the admin-only app to everyone.
    let r = through(&s, "g0.example.com", "/public/logo.png", None, &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.app_headers.get("x-webauth-user").is_none());
    let r = through(&s, "g0.example.com", "/public/x", Some(&alice), &[]).await;
    assert_eq!(
        r.app_headers["x-webauth-user"], "alice",
        "named when signed in"
    );
    for path in [
        "/publicx",
        "/",
        "/public/%2e%2e/admin",
        "/public/..%2fadmin",
    ] {
        let r = through(&s, "g0.example.com", path, None, &html).await;
        assert_ne!(r.status, 200, "{path}");
    }
    // Networks: the client address nginx saw (loopback here).
    assert_eq!(
        through(&s, "g4.example.com", "/lan", None, &[])
            .await
            .status,
        200
    );
    // nginx replaces a client's X-Real-IP. X-Forwarded-For is read from the right past
    // trusted proxies; this test's client is loopback, itself trusted, so the address it
    // names there is believed (an untrusted client's address ends the walk).
    assert_eq!(
        through(
            &s,
            "g4.example.com",
            "/lan",
            None,
            &[("X-Real-IP", "8.8.8.8")]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        through(
            &s,
            "g4.example.com",
            "/lan",
            None,
            &[("X-Forwarded-For", "8.8.8.8")]
        )
        .await
        .status,
        401
    );
    // Groups by name.
    assert_eq!(
        through(&s, "g4.example.com", "/guests", Some(&gus), &[])
            .await
            .status,
        200
    );
    assert_eq!(
        through(&s, "g4.example.com", "/other", Some(&gus), &[])
            .await
            .status,
        401
    );
    // A deny rule beats even the open app and an admin.
    assert_eq!(
        through(&s, "g999.example.com", "/private", Some(&root), &[])
            .await
            .status,
        401
    );
    assert_eq!(
        through(&s, "g999.example.com", "/open", None, &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_bad_rule_refuses_the_whole_change_and_names_rule_and_field() {
    let app = crate::support::TestApp::spawn().await;
    let patch: Map<String, Value> = serde_json::from_value(json!({
        "remember_days": 3,
        "proxy.rules": [
            {"action": "allow", "networks": ["192.168.1.0/24"]},
            {"action": "deny", "paths": ["/ok"], "networks": ["10.0.0.0/33"]}
        ]
    }))
    .unwrap();
    let errors = app
        .core
        .update_settings(&patch, &usher::auth::accounts::Acting::cli())
        .await
        .unwrap()
        .unwrap_err();
    let message = &errors["proxy.rules"];
    assert!(message.contains("rules[1].networks"), "{message}");
    assert!(message.contains("10.0.0.0/33"), "{message}");
    assert_eq!(app.core.settings().remember_days, 7, "nothing applied");
    assert!(app.core.settings().proxy_rules.is_empty());
}

/// A raw request through nginx (the target sent as written, as `curl --path-as-is` does).
async fn raw_through(s: &Stack, host: &str, target: &str, cookie: Option<&str>) -> Answer {
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    let raw = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n");
    send_raw(port(s), &raw).await
}

#[tokio::test]
async fn parameters_on_dot_segments_neither_dodge_a_deny_nor_widen_an_allow() {
    let s = group_stack(Proxy::Nginx).await;
    let alice = session_cookie(&s.app, "alice", 4).await;
    set_settings(
        &s.app,
        json!({"proxy.rules": [
            {"action": "deny", "paths": ["/admin"]},
            {"action": "allow", "paths": ["/public"]}
        ]}),
    )
    .await;
    // The stack works, and nginx hands the app the target as sent, parameters and all (so a
    // Java app behind it would resolve `..;`).
    let a = raw_through(&s, "g4.example.com", "/x/a;b=1/y", Some(&alice)).await;
    assert_eq!(a.status, 200, "{}\n{}", a.head, s.proxy_log());
    assert!(a.body.contains(r#""path":"/x/a;b=1/y""#), "{}", a.body);
    assert_eq!(
        raw_through(&s, "g4.example.com", "/public/x", None)
            .await
            .status,
        200
    );
    // A group-4 member at a deny rule's path, however it is spelled.
    let mut passed = Vec::new();
    for target in [
        "/admin",
        "/x/..;/admin",
        "/x/%2e%2e;/admin",
        "/x/%2E%2E%3B/admin",
        "/x/..;jsessionid=1/admin",
        "/admin;x=1",
        "/ADMIN;x=1/users",
        "/;x/admin",
        "/public;/../admin",
    ] {
        let a = raw_through(&s, "g4.example.com", target, Some(&alice)).await;
        if a.status != 401 {
            let who = a.body.contains(r#""x-webauth-user":"alice""#);
            passed.push(format!(
                "{target} as alice: {} (identity sent: {who})",
                a.status
            ));
        }
    }
    // Nobody signed in, at an allow rule's path that a parameter-cutting back end reads as
    // another one.
    for target in [
        "/public/..;/admin",
        "/public/%2e%2e;/admin",
        "/public/.;/../admin",
        "/public;/../admin",
        "/public/..;jsessionid=1/admin",
    ] {
        let a = raw_through(&s, "g4.example.com", target, None).await;
        if a.status != 401 {
            passed.push(format!("{target} anonymously: {}", a.status));
        }
    }
    assert!(passed.is_empty(), "let through: {passed:#?}");
}
