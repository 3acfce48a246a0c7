//! The web interface over plain HTTP: who may open which page, that every setting has its
//! field, that secrets never reach the HTML, the Content-Security-Policy of each page, and the
//! portal's frame. The browser tests (ui_journey, ui_admin) drive the same pages in Chromium.

use reqwest::Client;
use serde_json::json;

use crate::api_login::set_settings;
use crate::support::TestApp;

/// Every signed-in page.
const PAGES: &[&str] = &[
    "/",
    "/settings/main/authentication",
    "/settings/main/general",
    "/settings/main/proxy-auth",
    "/settings/sso/general",
    "/settings/sso/plex",
    "/settings/sso/tautulli",
    "/settings/sso/ombi",
    "/settings/sso/overseerr",
    "/settings/sso/jellyfin",
    "/settings/sso/openid-connect",
    "/users",
    "/groups",
    "/tabs",
    "/audit",
    "/account",
    "/debug",
];

const ADMIN_ONLY: &[&str] = &[
    "/settings/main/authentication",
    "/users",
    "/groups",
    "/tabs",
    "/audit",
];

pub(crate) async fn get(
    client: &Client,
    app: &TestApp,
    path: &str,
) -> (u16, String, reqwest::header::HeaderMap) {
    let r = client.get(app.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.unwrap(), headers)
}

#[tokio::test]
async fn pages_send_strangers_to_sign_in_and_come_back() {
    let app = TestApp::spawn().await;
    app.add_user("root", 0).await;
    for path in PAGES.iter().filter(|p| **p != "/") {
        let r = app.client().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        let to = r.headers()["location"].to_str().unwrap().to_string();
        let back = url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>();
        assert_eq!(to, format!("/login?rd={back}"), "{path}");
    }
}

#[tokio::test]
async fn admin_pages_refuse_everyone_else() {
    let app = TestApp::spawn().await;
    for group in [2, 4] {
        let c = app.signed_in(&format!("user{group}"), group).await;
        for path in ADMIN_ONLY {
            let (status, html, _) = get(&c, &app, path).await;
            assert_eq!(status, 403, "group {group} on {path}");
            assert!(html.contains("Administrators only"), "{html}");
        }
        // Their own pages open, without the admin menu.
        for path in ["/", "/account", "/debug"] {
            let (status, html, _) = get(&c, &app, path).await;
            assert_eq!(status, 200, "group {group} on {path}");
            assert!(!html.contains(r#"href="/settings""#), "{path}: {html}");
        }
    }
    let co_admin = app.signed_in("co", 1).await;
    for path in ADMIN_ONLY {
        assert_eq!(get(&co_admin, &app, path).await.0, 200, "{path}");
    }
}

#[tokio::test]
async fn every_setting_has_its_field_on_its_page() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let mut seen = 0;
    for path in PAGES.iter().filter(|p| p.starts_with("/settings/")) {
        let (status, html, _) = get(&admin, &app, path).await;
        assert_eq!(status, 200, "{path}");
        for d in usher::settings::DEFS {
            let field = format!(r#"name="{}""#, d.key);
            if html.contains(&format!(r#"<p class="crumb">{}</p>"#, d.section)) {
                assert!(html.contains(&field), "{} missing on {path}", d.key);
                seen += 1;
            } else {
                assert!(!html.contains(&field), "{} on the wrong page {path}", d.key);
            }
        }
    }
    assert_eq!(
        seen,
        usher::settings::DEFS.len(),
        "every setting on exactly one page"
    );
    let (status, _, _) = get(&admin, &app, "/settings/main/nothing").await;
    assert_eq!(status, 404);
    let r = admin.get(app.url("/settings")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/settings/main/authentication");
}

#[tokio::test]
async fn secrets_never_reach_the_page() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    set_settings(
        &app,
        json!({
            "sso.tautulli.api_key": "tautulli-secret-0123456789",
            "sso.ombi.token": "ombi-secret-0123456789",
            "sso.ombi.fallback_password": "fallback-secret-0123456789",
            "plex.token": "plex-secret-0123456789",
        }),
    )
    .await;
    for path in [
        "/settings/sso/tautulli",
        "/settings/sso/ombi",
        "/settings/main/authentication",
    ] {
        let (_, html, _) = get(&admin, &app, path).await;
        assert!(!html.contains("secret-0123456789"), "{path} shows a secret");
        assert!(html.contains("Saved — leave empty to keep"), "{path}");
        assert!(html.contains("Remove the saved value"), "{path}");
    }
}

#[tokio::test]
async fn every_page_has_a_strict_content_security_policy_and_no_inline_script() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let mut all: Vec<&str> = PAGES.to_vec();
    all.push("/login");
    for path in all {
        let client = if path == "/login" {
            app.client()
        } else {
            admin.clone()
        };
        let (status, html, headers) = get(&client, &app, path).await;
        assert_eq!(status, 200, "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'self'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers["x-frame-options"], "SAMEORIGIN", "{path}");
        // Scripts only from files: an inline one would be blocked by the policy anyway.
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            assert!(
                tag.contains(" src=\"/assets/"),
                "{path}: inline script {tag}"
            );
        }
        assert!(!html.contains(" style=\""), "{path}: inline style");
        assert!(!html.contains(" onclick="), "{path}: inline handler");
    }
}

#[tokio::test]
async fn the_portal_frames_only_the_tab_it_shows() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let mut ids = Vec::new();
    for body in [
        json!({"name": "Grafana", "url": "https://grafana.example.com/d/home?x=1", "group_id": 4}),
        json!({"name": "Requests", "url": "https://ombi.example.com/", "group_id": 4, "type": "new_window"}),
        json!({"name": "Admin only", "url": "https://secret.example.com/", "group_id": 0}),
    ] {
        let r = admin
            .post(app.url("/api/v2/tabs"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        ids.push(
            r.json::<serde_json::Value>().await.unwrap()["tab"]["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let user = app.signed_in("alice", 4).await;
    let (_, html, headers) = get(&user, &app, &format!("/?tab={}", ids[0])).await;
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.ends_with("frame-src 'self' https://grafana.example.com"),
        "{csp}"
    );
    assert!(
        html.contains(r#"src="https://grafana.example.com/d/home?x=1""#),
        "{html}"
    );
    // A new-window tab, a tab of another group, or junk: the tiles, and no frame allowed.
    for q in [
        ids[1].to_string(),
        ids[2].to_string(),
        "x".into(),
        "99999".into(),
    ] {
        let (status, html, headers) = get(&user, &app, &format!("/?tab={q}")).await;
        assert_eq!(status, 200, "{q}");
        assert!(!html.contains("<iframe"), "{q}: {html}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(!csp.contains("frame-src"), "{q}: {csp}");
    }
    // The admin sees how to put the apps behind nginx; the user does not.
    let (_, html, _) = get(&admin, &app, "/").await;
    assert!(html.contains("Add these apps to nginx"), "{html}");
    // Its tabs live on hosts of their own: the command that prints each one's server block.
    assert!(
        html.contains("usher proxy-config --proxy nginx --app grafana --group 4 --mode subdomain --header-auth"),
        "{html}"
    );
    let (_, html, _) = get(&user, &app, "/").await;
    assert!(!html.contains("Add these apps to nginx"), "{html}");
}

#[tokio::test]
async fn signing_out_other_devices_keeps_this_one() {
    let app = TestApp::spawn().await;
    let here = app.signed_in("alice", 4).await;
    let phone = app.client();
    assert_eq!(
        app.login(&phone, "alice", crate::support::PASSWORD)
            .await
            .status(),
        200
    );
    let other = app.signed_in("bob", 4).await;
    let r = here
        .delete(app.url("/api/v2/me/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["revoked"], 1);
    assert_eq!(app.get_json(&phone, "/api/v2/me").await.0, 401);
    assert_eq!(app.get_json(&here, "/api/v2/me").await.0, 200);
    assert_eq!(
        app.get_json(&other, "/api/v2/me").await.0,
        200,
        "someone else's stays"
    );
    let r = app
        .client()
        .delete(app.url("/api/v2/me/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn tab_hosts_cannot_reach_into_the_portals_policy_and_icon_names_get_a_letter() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    // The url crate accepts ';', ',' and '*' in host names; in the CSP they would add or widen
    // directives (`frame-src 'self' https://a.example;sandbox`).
    for url in [
        "https://a.example;sandbox/",
        "https://*/",
        "https://a.example,b.example/",
    ] {
        let r = admin
            .post(app.url("/api/v2/tabs"))
            .json(&json!({"name": "Odd", "url": url, "group_id": 4}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{url}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"]["fields"]["url"].is_string(), "{url}: {body}");
    }
    for (name, icon) in [
        ("Films", "fa fa-film"),
        ("Music", "https://icons.example.com/music.png"),
    ] {
        let r = admin
            .post(app.url("/api/v2/tabs"))
            .json(&json!({"name": name, "url": "/x/", "group_id": 4, "icon": icon}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{name}");
    }
    let (_, html, _) = get(&admin, &app, "/").await;
    assert!(!html.contains(r#"src="fa fa-film""#), "{html}");
    assert!(
        html.contains(r#"<span class="initial" aria-hidden="true">F</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<img src="https://icons.example.com/music.png""#),
        "{html}"
    );
}

#[tokio::test]
async fn people_change_their_own_password_knowing_the_current_one() {
    let app = TestApp::spawn().await;
    let here = app.signed_in("alice", 4).await;
    let phone = app.client();
    assert_eq!(
        app.login(&phone, "alice", crate::support::PASSWORD)
            .await
            .status(),
        200
    );
    let change = |current: &str, new: &str| {
        here.post(app.url("/api/v2/me/password"))
            .json(&json!({"current_password": current, "password": new}))
            .send()
    };
    // A wrong current password is refused under its field (and counted like a failed sign-in).
    let r = change("not it", "a brand new password").await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["fields"]["current_password"],
        "is not your current password"
    );
    let r = change(crate::support::PASSWORD, "short").await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["fields"]["password"].is_string(), "{body}");
    assert_eq!(
        app.get_json(&phone, "/api/v2/me").await.0,
        200,
        "nothing changed yet"
    );

    let r = change(crate::support::PASSWORD, "a brand new password")
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.get_json(&here, "/api/v2/me").await.0,
        200,
        "this device stays"
    );
    assert_eq!(
        app.get_json(&phone, "/api/v2/me").await.0,
        401,
        "others end"
    );
    let fresh = app.client();
    assert_eq!(
        app.login(&fresh, "alice", crate::support::PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login(&fresh, "alice", "a brand new password")
            .await
            .status(),
        200
    );
    // The form is on the profile page.
    let (_, html, _) = get(&here, &app, "/account").await;
    assert!(
        html.contains(r#"data-api="POST /api/v2/me/password""#),
        "{html}"
    );
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled_like_a_sign_in() {
    let app = TestApp::spawn().await;
    let here = app.signed_in("bob", 4).await;
    let mut last = 0;
    for _ in 0..12 {
        last = here
            .post(app.url("/api/v2/me/password"))
            .json(&json!({"current_password": "guess", "password": "a brand new password"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if last == 429 {
            break;
        }
    }
    assert_eq!(last, 429, "guesses end in a pause");
}
