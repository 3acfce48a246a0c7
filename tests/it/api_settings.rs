//! `GET|PATCH /api/v2/settings` over real HTTP: metadata, all-or-nothing validation, reset to
//! default, and changes that show in behaviour at once (cookie name, remember days).

use serde_json::{json, Value};

use crate::api_login::{attr, bare, cookie_named, cookie_value, send};
use crate::support::{assert_error, TestApp, PASSWORD};

/// The entry of one setting in a `GET /api/v2/settings` answer.
fn entry<'a>(body: &'a Value, key: &str) -> &'a Value {
    body["settings"]
        .as_array()
        .expect("a settings list")
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {body}"))
}

#[tokio::test]
async fn every_setting_is_listed_with_value_default_help_and_section() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let (status, body) = send(&app, &admin, "GET", "/api/v2/settings", None).await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = body["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    let declared: Vec<&str> = usher::settings::DEFS.iter().map(|d| d.key).collect();
    assert_eq!(listed, declared);
    for key in [
        "public_url",
        "cookie_domain",
        "cookie_name",
        "remember_days",
        "trusted_proxies",
        "allowed_redirect_hosts",
        "login.max_failures_per_user",
        "login.max_failures_per_ip",
    ] {
        assert!(listed.contains(&key), "{key} missing");
    }
    for s in body["settings"].as_array().unwrap() {
        for field in [
            "key",
            "value",
            "default",
            "help",
            "section",
            "is_default",
            "secret",
        ] {
            assert!(s.get(field).is_some(), "{field} missing in {s}");
        }
        assert!(!s["help"].as_str().unwrap().is_empty(), "{s}");
        assert!(!s["section"].as_str().unwrap().is_empty(), "{s}");
        assert_eq!(s["is_default"], true, "fresh install: {s}");
        assert_eq!(s["value"], s["default"], "{s}");
    }
    let c = entry(&body, "cookie_name");
    assert_eq!(c["value"], "usher_session");
    assert_eq!(entry(&body, "remember_days")["default"], 7);
    assert_eq!(
        entry(&body, "trusted_proxies")["value"],
        json!(["127.0.0.0/8", "::1/128"])
    );
    assert_eq!(entry(&body, "public_url")["value"], Value::Null);
}

#[tokio::test]
async fn a_valid_patch_applies_and_shows_in_behaviour() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    app.add_user("alice", 4).await;
    let old = app.client();
    assert_eq!(app.login(&old, "alice", PASSWORD).await.status(), 200);

    let (status, body) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/settings",
        Some(json!({
            "cookie_name": "sso_token",
            "remember_days": 3,
            "allowed_redirect_hosts": ["Media.Home.LAN."],
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(entry(&body, "cookie_name")["value"], "sso_token");
    // Values are normalised on the way in.
    assert_eq!(
        entry(&body, "allowed_redirect_hosts")["value"],
        json!(["media.home.lan"])
    );
    // The admin was signed in under the old cookie name; ask the core for the persisted view.
    let s = app.core.settings();
    assert_eq!(s.cookie_name, "sso_token");
    assert_eq!(s.remember_days, 3);
    drop(s);

    // Login now sets the new cookie name, with remember_days applied.
    let c = app.client();
    let r = c
        .post(app.url("/api/v2/login"))
        .json(&json!({"username": "alice", "password": PASSWORD, "remember": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sc = cookie_named(&r, "sso_token");
    assert_eq!(attr(&sc, "Max-Age").as_deref(), Some("259200"), "{sc}");
    let token = cookie_value(&sc);
    assert_eq!(app.get_json(&c, "/api/v2/me").await.0, 200);
    // The proxy endpoint reads the new name, and only the new name.
    let proxy = |cookie: String| {
        bare()
            .get(app.url("/api/v2/auth/4"))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(
        proxy(format!("sso_token={token}")).await.unwrap().status(),
        200
    );
    assert_eq!(
        proxy(format!("usher_session={token}"))
            .await
            .unwrap()
            .status(),
        401
    );
    // A cookie under the old name no longer signs anyone in.
    assert_eq!(app.get_json(&old, "/api/v2/me").await.0, 401);

    // The change is visible in GET (signed in again under the new name).
    let admin = app.client();
    assert_eq!(app.login(&admin, "root", PASSWORD).await.status(), 200);
    let (status, body) = send(&app, &admin, "GET", "/api/v2/settings", None).await;
    assert_eq!(status, 200);
    assert_eq!(entry(&body, "cookie_name")["value"], "sso_token");
    assert_eq!(entry(&body, "cookie_name")["is_default"], false);
    assert_eq!(entry(&body, "remember_days")["value"], 3);
    assert_eq!(entry(&body, "public_url")["is_default"], true);
    // And it was audited.
    let (_, audit) = send(&app, &admin, "GET", "/api/v2/audit", None).await;
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "settings.update" && e["detail"]["remember_days"]["after"] == 3));
}

#[tokio::test]
async fn one_invalid_value_saves_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    for (patch, bad_key) in [
        (
            json!({"remember_days": 400, "cookie_name": "changed"}),
            "remember_days",
        ),
        (
            json!({"remember_days": "7", "cookie_name": "changed"}),
            "remember_days",
        ),
        (
            json!({"cookie_name": "bad name", "remember_days": 2}),
            "cookie_name",
        ),
        (
            json!({"trusted_proxies": ["10.0.0.0/33"], "remember_days": 2}),
            "trusted_proxies",
        ),
        (
            json!({"public_url": "javascript:alert(1)", "remember_days": 2}),
            "public_url",
        ),
        (
            json!({"allowed_redirect_hosts": ["evil.com/x"], "remember_days": 2}),
            "allowed_redirect_hosts",
        ),
        (
            json!({"no_such_setting": 1, "remember_days": 2}),
            "no_such_setting",
        ),
    ] {
        let (status, body) = send(
            &app,
            &admin,
            "PATCH",
            "/api/v2/settings",
            Some(patch.clone()),
        )
        .await;
        assert_eq!(status, 400, "{patch}");
        assert_error(&body, "invalid_setting");
        let fields = body["error"]["fields"].as_object().expect("fields");
        assert!(
            fields[bad_key].as_str().is_some_and(|m| !m.is_empty()),
            "{patch}: {body}"
        );
        assert_eq!(fields.len(), 1, "only the bad key is reported: {body}");
        // Nothing was saved: the valid key of the same patch kept its value.
        let (_, now) = send(&app, &admin, "GET", "/api/v2/settings", None).await;
        assert_eq!(
            entry(&now, "cookie_name")["value"],
            "usher_session",
            "{patch}"
        );
        assert_eq!(entry(&now, "remember_days")["value"], 7, "{patch}");
        assert_eq!(entry(&now, "remember_days")["is_default"], true, "{patch}");
    }
    // An unknown key alone.
    let (status, body) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/settings",
        Some(json!({"no_such.setting": "x"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["no_such.setting"]
        .as_str()
        .unwrap()
        .contains("unknown"));
    // Bodies that are not a settings object.
    for bad in [json!({}), json!([]), json!("remember_days")] {
        let (status, body) =
            send(&app, &admin, "PATCH", "/api/v2/settings", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn a_public_suffix_cookie_domain_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    for domain in ["duckdns.org", ".DuckDNS.org", "co.uk"] {
        let (status, body) = send(
            &app,
            &admin,
            "PATCH",
            "/api/v2/settings",
            Some(json!({"cookie_domain": domain})),
        )
        .await;
        assert_eq!(status, 400, "{domain}");
        assert_error(&body, "invalid_setting");
        let msg = body["error"]["fields"]["cookie_domain"].as_str().unwrap();
        assert!(msg.contains("public suffix"), "{domain}: {msg}");
    }
    for domain in ["192.168.1.10", "localhost"] {
        let (status, _) = send(
            &app,
            &admin,
            "PATCH",
            "/api/v2/settings",
            Some(json!({"cookie_domain": domain})),
        )
        .await;
        assert_eq!(status, 400, "{domain}");
    }
    assert_eq!(app.core.settings().cookie_domain, None);
    // Your own name under a dynamic-DNS suffix is fine.
    let (status, body) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/settings",
        Some(json!({"cookie_domain": "MyHome.duckdns.org"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(entry(&body, "cookie_domain")["value"], "myhome.duckdns.org");
}

#[tokio::test]
async fn null_resets_a_setting_to_its_default() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let (status, _) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/settings",
        Some(json!({"remember_days": 14, "public_url": "https://usher.example.com/"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = send(&app, &admin, "GET", "/api/v2/settings", None).await;
    assert_eq!(entry(&body, "remember_days")["value"], 14);
    assert_eq!(
        entry(&body, "public_url")["value"],
        "https://usher.example.com"
    );
    // Secure cookies now (public_url is https).
    let r = app.login(&app.client(), "root", PASSWORD).await;
    assert_eq!(
        attr(&cookie_named(&r, "usher_session"), "Secure").as_deref(),
        Some("")
    );

    let (status, body) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/settings",
        Some(json!({"remember_days": null, "public_url": null})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(entry(&body, "remember_days")["value"], 7);
    assert_eq!(entry(&body, "remember_days")["is_default"], true);
    assert_eq!(entry(&body, "public_url")["value"], Value::Null);
    let r = app.login(&app.client(), "root", PASSWORD).await;
    assert_eq!(attr(&cookie_named(&r, "usher_session"), "Secure"), None);
}

#[tokio::test]
async fn settings_are_for_admins_only() {
    let app = TestApp::spawn().await;
    let plain = app.signed_in("plain", 4).await;
    let co = app.signed_in("co", 1).await;
    for (method, body) in [("GET", None), ("PATCH", Some(json!({"remember_days": 2})))] {
        let (status, b) = send(&app, &plain, method, "/api/v2/settings", body.clone()).await;
        assert_eq!(status, 403, "{method}");
        assert_error(&b, "forbidden");
        let (status, b) = send(&app, &bare(), method, "/api/v2/settings", body.clone()).await;
        assert_eq!(status, 401, "{method}");
        assert_error(&b, "unauthenticated");
    }
    assert_eq!(app.core.settings().remember_days, 7);
    // Co-admins are administrators too.
    let (status, _) = send(
        &app,
        &co,
        "PATCH",
        "/api/v2/settings",
        Some(json!({"remember_days": 2})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.core.settings().remember_days, 2);
}
