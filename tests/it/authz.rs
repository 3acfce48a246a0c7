//! Who may change what (issue 10, findings 2–4), over real HTTP: a Co-Admin (group 1) cannot
//! change the settings that carry identity or secrets or decide who is trusted, cannot use the
//! routes that send a stored secret somewhere, and cannot see or end the Admin's sessions; moving
//! an app's address forgets the secrets stored for the old one; new accounts never land in an
//! administrator group.

use axum::Router;
use serde_json::{json, Value};

use crate::api_login::send;
use crate::support::browser::Browser;
use crate::support::fake_apps::jellyfin::{FakeJellyfin, JellyfinConfig};
use crate::support::fake_apps::tautulli::{FakeTautulli, TautulliConfig};
use crate::support::fake_apps::{serve, Running};
use crate::support::{assert_error, TestApp, PASSWORD};
use crate::ui_admin::sign_in;
use crate::ui_journey::{reveal, save_settings};
use crate::ui_pages::get;
use usher::auth::accounts::Acting;

/// A listener standing in for an attacker's server: it answers 200 `{}` to anything and records
/// what it was sent.
async fn listener() -> Running {
    serve(Router::new().fallback(|| async { axum::Json(json!({})) })).await
}

/// `PATCH /api/v2/settings` as `client`.
async fn patch_settings(app: &TestApp, client: &reqwest::Client, body: Value) -> (u16, Value) {
    send(app, client, "PATCH", "/api/v2/settings", Some(body)).await
}

/// Settings as the CLI sets them (full rights).
async fn set(app: &TestApp, patch: Value) {
    app.core
        .update_settings(patch.as_object().unwrap(), &Acting::cli())
        .await
        .expect("store answers")
        .expect("settings valid");
}

fn stored(app: &TestApp, key: &str) -> Value {
    app.core.settings().get(key).cloned().unwrap_or(Value::Null)
}

/// One protected key of each class, with a value that would be valid.
fn protected_changes(evil: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("sso.jellyfin.url", json!(evil)),
        ("sso.ombi.token", json!("attacker-known")),
        ("sso.tautulli.min_group", json!(4)),
        ("plex.tv_url", json!(evil)),
        ("plex.token", json!("attacker-token")),
        ("plex.default_group", json!(3)),
        ("trusted_proxies", json!(["0.0.0.0/0"])),
        ("proxy.rules", json!([{"action": "allow"}])),
        ("cookie_domain", json!("example.com")),
        ("cookie_name", json!("stolen")),
        ("public_url", json!(evil)),
        ("allowed_redirect_hosts", json!(["evil.example"])),
        ("auth_type", json!("backend")),
        ("login.max_failures_per_user", json!(1000)),
    ]
}

#[tokio::test]
async fn a_co_admin_cannot_change_protected_settings_and_the_admin_can() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let co = app.signed_in("co", 1).await;
    let evil = listener().await.url("");
    for (key, value) in protected_changes(&evil) {
        let before = stored(&app, key);
        // Alone, and hidden among allowed keys: the whole change is refused, nothing saved.
        for patch in [
            json!({ key: value.clone() }),
            json!({ "remember_days": 3, key: value.clone() }),
        ] {
            let (status, body) = patch_settings(&app, &co, patch).await;
            assert_eq!(status, 403, "{key}: {body}");
            assert_error(&body, "forbidden");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(key), "{key}: {body}");
            assert!(body["error"]["fields"][key].is_string(), "{body}");
            assert_eq!(stored(&app, key), before, "{key} unchanged");
            assert_eq!(app.core.settings().remember_days, 7, "{key}: nothing saved");
        }
        let (status, body) = patch_settings(&app, &admin, json!({ key: value.clone() })).await;
        assert_eq!(status, 200, "the Admin changes {key}: {body}");
        assert_ne!(stored(&app, key), before, "{key} changed by the Admin");
        // Back to the default (a new cookie name signs everybody out), so the next key is
        // tried on a normal install.
        set(&app, json!({ key: null })).await;
    }
    // What a Co-Admin may still change: time limits that hand nobody anything.
    let (status, body) = patch_settings(
        &app,
        &co,
        json!({"remember_days": 3, "sso.timeout_seconds": 9, "sso.app_timeout_seconds": 4}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.core.settings().remember_days, 3);
    // The listing says which settings are the Admin's.
    let (_, body) = send(&app, &co, "GET", "/api/v2/settings", None).await;
    let admin_only = |key: &str| {
        body["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap()["admin_only"]
            .clone()
    };
    assert_eq!(admin_only("sso.jellyfin.url"), true);
    assert_eq!(admin_only("remember_days"), false);
}

#[tokio::test]
async fn a_co_admin_cannot_send_the_admins_password_to_their_own_jellyfin() {
    let app = TestApp::spawn().await;
    let real = FakeJellyfin::start(JellyfinConfig::with_users(&[("root", PASSWORD)])).await;
    let theirs = listener().await;
    app.add_user("root", 0).await;
    set(
        &app,
        json!({"sso.jellyfin.enabled": true, "sso.jellyfin.url": real.base_url()}),
    )
    .await;
    let co = app.signed_in("co", 1).await;
    let (status, body) =
        patch_settings(&app, &co, json!({"sso.jellyfin.url": theirs.url("")})).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sso.jellyfin.url"));
    assert_eq!(stored(&app, "sso.jellyfin.url"), json!(real.base_url()));
    // The Admin's next sign-in goes to the Admin's Jellyfin, never to the Co-Admin's listener.
    let r = app.login(&app.client(), "root", PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert!(
        real.server
            .control
            .seen()
            .iter()
            .any(|s| s.path == "/Users/AuthenticateByName"),
        "the real Jellyfin was signed into"
    );
    assert!(
        theirs.control.seen().is_empty(),
        "the Co-Admin's listener was sent {:?}",
        theirs.control.seen()
    );
}

#[tokio::test]
async fn moving_plex_tv_forgets_the_owners_token_and_validate_is_the_admins() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let co = app.signed_in("co", 1).await;
    let theirs = listener().await;
    set(
        &app,
        json!({"plex.token": "OWNERTOKEN123", "plex.machine_id": "abc123"}),
    )
    .await;
    // The issue's path: a Co-Admin moves plex.tv and asks Usher to validate the token there.
    let (status, body) = patch_settings(&app, &co, json!({"plex.tv_url": theirs.url("")})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(stored(&app, "plex.tv_url"), json!("https://plex.tv"));
    for (method, path) in [
        ("GET", "/api/v2/plex/validate"),
        ("GET", "/api/v2/plex/servers"),
        ("POST", "/api/v2/plex/admin/pin"),
        ("GET", "/api/v2/plex/admin/pin/1"),
    ] {
        let (status, body) = send(&app, &co, method, path, None).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert_error(&body, "forbidden");
    }
    // Even the Admin cannot send the masked token to a new place without typing it again.
    let (status, body) = patch_settings(&app, &admin, json!({"plex.tv_url": theirs.url("")})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["forgotten"], json!(["plex.token"]));
    assert_eq!(stored(&app, "plex.token"), Value::Null);
    let (status, body) = send(&app, &admin, "GET", "/api/v2/plex/validate", None).await;
    assert_eq!(status, 503, "no token left to send: {body}");
    assert!(
        theirs.control.seen().is_empty(),
        "the listener was sent {:?}",
        theirs.control.seen()
    );
    // A new token sent in the same change as the address is kept.
    let (status, body) = patch_settings(
        &app,
        &admin,
        json!({"plex.tv_url": "https://plex.tv", "plex.token": "NEWTOKEN456"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["forgotten"], json!([]));
    assert_eq!(stored(&app, "plex.token"), json!("NEWTOKEN456"));
}

#[tokio::test]
async fn moving_an_sso_app_forgets_its_stored_secrets() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    app.add_user("alice", 4).await;
    let tautulli = FakeTautulli::start(TautulliConfig::default()).await;
    let theirs = listener().await;
    set(
        &app,
        json!({
            "sso.tautulli.enabled": true,
            "sso.tautulli.url": tautulli.base_url(),
            "sso.tautulli.api_key": tautulli.config.api_key,
            "sso.ombi.url": "http://127.0.0.1:9",
            "sso.ombi.token": "OMBIKEY",
            "sso.ombi.fallback_user": "guest",
            "sso.ombi.fallback_password": "OMBIPASS",
            "sso.overseerr.url": "http://127.0.0.1:9",
            "sso.overseerr.token": "SEERRKEY",
        }),
    )
    .await;
    // Sending the same address again moves nothing.
    let (status, body) = patch_settings(
        &app,
        &admin,
        json!({"sso.ombi.url": "http://127.0.0.1:9/", "sso.tautulli.url": tautulli.base_url()}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["forgotten"], json!([]));
    assert_eq!(stored(&app, "sso.ombi.token"), json!("OMBIKEY"));
    // Moving Ombi forgets its API key and fallback password (not its fallback user name); a new
    // Overseerr key sent with its new address is kept.
    let (status, body) = patch_settings(
        &app,
        &admin,
        json!({
            "sso.ombi.url": "http://127.0.0.1:10",
            "sso.overseerr.url": "http://127.0.0.1:10",
            "sso.overseerr.token": "NEWSEERRKEY",
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["forgotten"],
        json!(["sso.ombi.token", "sso.ombi.fallback_password"])
    );
    assert_eq!(stored(&app, "sso.ombi.token"), Value::Null);
    assert_eq!(stored(&app, "sso.ombi.fallback_password"), Value::Null);
    assert_eq!(stored(&app, "sso.ombi.fallback_user"), json!("guest"));
    assert_eq!(stored(&app, "sso.overseerr.token"), json!("NEWSEERRKEY"));
    // Moving Tautulli: the old API key never reaches the new address. (Without a key Usher does
    // not sign anyone into Tautulli at all: it cannot ask who may sign in there.)
    let old_key = tautulli.config.api_key.clone();
    let (status, body) =
        patch_settings(&app, &admin, json!({"sso.tautulli.url": theirs.url("")})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["forgotten"], json!(["sso.tautulli.api_key"]));
    let r = app.login(&app.client(), "alice", PASSWORD).await;
    assert_eq!(r.status(), 200);
    for s in &theirs.control.seen() {
        let headers = format!("{:?}", s.headers);
        assert!(
            !s.query.contains(&old_key) && !headers.contains(&old_key),
            "the old API key went to {}?{}",
            s.path,
            s.query
        );
    }
}

#[tokio::test]
async fn the_sso_test_button_is_the_admins() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let co = app.signed_in("co", 1).await;
    let body = json!({"username": "alice", "password": PASSWORD});
    let (status, b) = send(
        &app,
        &co,
        "POST",
        "/api/v2/sso/test/ombi",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 403, "{b}");
    assert_error(&b, "forbidden");
    let (status, b) = send(&app, &admin, "POST", "/api/v2/sso/test/ombi", Some(body)).await;
    assert_eq!(status, 200, "{b}");
}

#[tokio::test]
async fn settings_pages_show_the_admins_fields_read_only_to_a_co_admin() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let co = app.signed_in("co", 1).await;
    let (status, html, _) = get(&co, &app, "/settings/sso/jellyfin").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="admin-only-note""#), "{html}");
    assert!(html.contains("only the Admin (group 0) may change them"));
    let url_input = input_tag(&html, "f-sso-jellyfin-url");
    assert!(url_input.contains("disabled"), "{url_input}");
    assert!(!html.contains(r#"id="save-settings""#), "nothing to save");
    assert!(!html.contains(r#"id="sso-test""#), "no Test button");
    assert!(html.contains(r#"id="sso-test-admin-only""#));
    // The Retrieve buttons send the owner's token: not there for a Co-Admin.
    let (_, html, _) = get(&co, &app, "/settings/main/authentication").await;
    assert!(!html.contains("retrieve-plex-token"), "{html}");
    assert!(input_tag(&html, "f-plex-tv_url").contains("disabled"));
    assert!(!input_tag(&html, "f-remember_days").contains("disabled"));
    assert!(html.contains(r#"id="save-settings""#));
    // The Admin sees every field open.
    let (_, html, _) = get(&admin, &app, "/settings/sso/jellyfin").await;
    assert!(!html.contains("admin-only-note"));
    assert!(!input_tag(&html, "f-sso-jellyfin-url").contains("disabled"));
    assert!(html.contains(r#"id="sso-test""#));
}

#[tokio::test]
async fn in_chromium_a_co_admin_saves_what_they_may_and_the_admin_hears_what_was_forgotten() {
    let app = TestApp::spawn().await;
    app.add_user("root", 0).await;
    app.add_user("co", 1).await;
    set(
        &app,
        json!({"sso.ombi.url": "http://127.0.0.1:9", "sso.ombi.token": "OMBIKEY"}),
    )
    .await;
    let browser = Browser::start().await;
    // The Co-Admin's page sends only the open fields: the read-only ones never spoil the save.
    sign_in(&browser, &app, "co").await;
    browser
        .goto(&app.url("/settings/main/authentication"))
        .await;
    reveal(&browser, "#f-remember_days").await;
    browser.fill("#f-remember_days", "30").await;
    assert_eq!(save_settings(&browser).await, "Saved.");
    assert_eq!(app.core.settings().remember_days, 30);
    browser.screenshot("authz-co-admin-settings").await;
    // The Admin moves Ombi without typing its key again: the page says the key is gone.
    browser.client().delete_all_cookies().await.unwrap();
    sign_in(&browser, &app, "root").await;
    browser.goto(&app.url("/settings/sso/ombi")).await;
    reveal(&browser, "#f-sso-ombi-url").await;
    browser.fill("#f-sso-ombi-url", "http://127.0.0.1:10").await;
    let said = save_settings(&browser).await;
    assert!(
        said.contains("the saved sso.ombi.token was removed: enter it again"),
        "{said}"
    );
    let key = browser.find("#f-sso-ombi-token").await;
    assert_eq!(
        key.attr("placeholder").await.unwrap().as_deref(),
        Some("Not set")
    );
    assert_eq!(stored(&app, "sso.ombi.token"), Value::Null);
}

/// The `<input …>` tag with this id.
fn input_tag<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no #{id}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

#[tokio::test]
async fn a_co_admin_cannot_see_or_end_the_admins_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let co = app.signed_in("co", 1).await;
    let user = app.signed_in("alice", 4).await;
    let root = app.core.user_by_name("root").await.unwrap();
    let alice = app.core.user_by_name("alice").await.unwrap();
    let admin_session = app.core.sessions_of(Some(root.id)).await.unwrap()[0].id;
    for (method, path) in [
        ("GET", format!("/api/v2/users/{}/sessions", root.id)),
        ("DELETE", format!("/api/v2/users/{}/sessions", root.id)),
        ("DELETE", format!("/api/v2/sessions/{admin_session}")),
        ("GET", format!("/api/v2/sso/debug?user={}", root.id)),
    ] {
        let (status, body) = send(&app, &co, method, &path, None).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert_error(&body, "forbidden");
    }
    let (status, body) = send(&app, &co, "GET", "/api/v2/sessions", None).await;
    assert_eq!(status, 200);
    let owners: Vec<&str> = body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["username"].as_str().unwrap())
        .collect();
    assert!(!owners.contains(&"root"), "{owners:?}");
    assert!(owners.contains(&"alice") && owners.contains(&"co"));
    let (_, html, _) = get(&co, &app, "/users").await;
    assert!(
        !html.contains(&format!("DELETE /api/v2/sessions/{admin_session}")),
        "the users page offers no sign-out of the Admin"
    );
    // The Admin is still signed in.
    assert_eq!(app.get_json(&admin, "/api/v2/me").await.0, 200);
    // Against a User, a Co-Admin may do all of these.
    let (status, body) = send(
        &app,
        &co,
        "GET",
        &format!("/api/v2/sso/debug?user={}", alice.id),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let path = format!("/api/v2/users/{}/sessions", alice.id);
    let (status, body) = send(&app, &co, "GET", &path, None).await;
    assert_eq!(status, 200, "{body}");
    let alice_session = body["sessions"][0]["id"].as_i64().unwrap();
    let (status, _) = send(
        &app,
        &co,
        "DELETE",
        &format!("/api/v2/sessions/{alice_session}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(app.get_json(&user, "/api/v2/me").await.0, 401);
    let (status, _) = send(&app, &co, "DELETE", &path, None).await;
    assert_eq!(status, 200);
    // Unknown ids stay 404.
    let (status, _) = send(&app, &co, "DELETE", "/api/v2/sessions/999999", None).await;
    assert_eq!(status, 404);
    // The Admin may end the Co-Admin's sessions.
    let co_user = app.core.user_by_name("co").await.unwrap();
    let path = format!("/api/v2/users/{}/sessions", co_user.id);
    let (status, _) = send(&app, &admin, "DELETE", &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(app.get_json(&co, "/api/v2/me").await.0, 401);
}

#[tokio::test]
async fn a_co_admin_cannot_rename_the_admin_group() {
    let app = TestApp::spawn().await;
    let co = app.signed_in("co", 1).await;
    let (status, body) = send(
        &app,
        &co,
        "PATCH",
        "/api/v2/groups/0",
        Some(json!({"name": "Former Admin"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_error(&body, "forbidden");
    assert_eq!(app.core.group(0).await.unwrap().name, "Admin");
    let (status, body) = send(
        &app,
        &co,
        "PATCH",
        "/api/v2/groups/4",
        Some(json!({"name": "Friends"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn plex_default_group_refuses_administrator_groups() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    for group in [0, 1] {
        let (status, body) =
            patch_settings(&app, &admin, json!({"plex.default_group": group})).await;
        assert_eq!(status, 400, "{group}: {body}");
        assert_error(&body, "invalid_setting");
        let why = body["error"]["fields"]["plex.default_group"]
            .as_str()
            .unwrap();
        assert!(why.contains("administrator"), "{why}");
        // The CLI is refused by the same check.
        let refused = app
            .core
            .update_settings(
                json!({"plex.default_group": group}).as_object().unwrap(),
                &Acting::cli(),
            )
            .await
            .unwrap()
            .unwrap_err();
        assert!(refused.contains_key("plex.default_group"), "{refused:?}");
    }
    assert_eq!(app.core.settings().plex.default_group, 4);
    // The group API gives the same reason.
    let (status, body) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/groups/1",
        Some(json!({"is_default": true})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["fields"]["is_default"]
        .as_str()
        .unwrap()
        .contains("administrator"));
    let (status, body) = patch_settings(&app, &admin, json!({"plex.default_group": 3})).await;
    assert_eq!(status, 200, "{body}");
}
