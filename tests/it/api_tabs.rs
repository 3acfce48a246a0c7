//! Portal tabs over real HTTP: admin CRUD and order, the person's own tabs by Organizr's rule,
//! URLs that cannot run script, tab names in proxy-auth URLs, and the portal page's links.

use reqwest::Client;
use serde_json::{json, Value};

use crate::api_login::{bare, send};
use crate::support::{assert_error, TestApp};
use crate::ui_pages::get;

async fn add_tab(app: &TestApp, admin: &Client, body: Value) -> Value {
    let (status, b) = send(app, admin, "POST", "/api/v2/tabs", Some(body)).await;
    assert_eq!(status, 201, "{b}");
    b["tab"].clone()
}

fn names(list: &Value) -> Vec<&str> {
    list["tabs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

async fn auth(app: &TestApp, client: &Client, path: &str) -> u16 {
    client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn tabs_are_created_listed_changed_reordered_and_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let plex = add_tab(
        &app,
        &admin,
        json!({"name": "Plex", "url": "/plex/", "icon": "fa fa-play", "group_id": 4, "category": "Media"}),
    )
    .await;
    assert_eq!(
        plex,
        json!({"id": plex["id"], "name": "Plex", "url": "/plex/", "icon": "fa fa-play", "group_id": 4,
               "group_id_max": 0, "type": "iframe", "order": 1, "category": "Media", "enabled": true})
    );
    let stats = add_tab(
        &app,
        &admin,
        json!({"name": "Tautulli", "url": "https://tautulli.example.com/", "group_id": 1, "type": "new_window"}),
    )
    .await;
    assert_eq!(stats["order"], 2);
    assert_eq!(stats["category"], Value::Null);
    let (status, list) = send(&app, &admin, "GET", "/api/v2/tabs", None).await;
    assert_eq!(status, 200);
    assert_eq!(names(&list), vec!["Plex", "Tautulli"]);

    // PATCH changes what it names and keeps the rest; null clears the category.
    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/tabs/{}", plex["id"]),
        Some(json!({"name": "Plex Web", "category": null, "enabled": false})),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["tab"]["name"], "Plex Web");
    assert_eq!(b["tab"]["url"], "/plex/");
    assert_eq!(b["tab"]["category"], Value::Null);
    assert_eq!(b["tab"]["enabled"], false);
    assert_eq!(b["tab"]["icon"], "fa fa-play");

    // Order: every id once.
    let order = json!({"ids": [stats["id"], plex["id"]]});
    let (status, b) = send(&app, &admin, "POST", "/api/v2/tabs/order", Some(order)).await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(names(&b), vec!["Tautulli", "Plex Web"]);
    for ids in [
        json!([stats["id"]]),
        json!([stats["id"], stats["id"]]),
        json!([stats["id"], plex["id"], 999]),
    ] {
        let (status, b) = send(
            &app,
            &admin,
            "POST",
            "/api/v2/tabs/order",
            Some(json!({"ids": ids})),
        )
        .await;
        assert_eq!(status, 400, "{ids}: {b}");
        assert!(b["error"]["fields"]["ids"].is_string(), "{b}");
    }
    let (_, list) = send(&app, &admin, "GET", "/api/v2/tabs", None).await;
    assert_eq!(names(&list), vec!["Tautulli", "Plex Web"]);

    let path = format!("/api/v2/tabs/{}", stats["id"]);
    assert_eq!(send(&app, &admin, "DELETE", &path, None).await.0, 204);
    for method in ["DELETE", "PATCH"] {
        let (status, b) = send(&app, &admin, method, &path, Some(json!({"name": "x"}))).await;
        assert_eq!(status, 404, "{method}");
        assert_error(&b, "not_found");
    }
    let (_, list) = send(&app, &admin, "GET", "/api/v2/tabs", None).await;
    assert_eq!(names(&list), vec!["Plex Web"]);

    let (_, audit) = send(&app, &admin, "GET", "/api/v2/audit", None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str().filter(|a| a.starts_with("tab.")))
        .collect();
    assert_eq!(
        actions,
        vec![
            "tab.delete",
            "tab.order",
            "tab.update",
            "tab.create",
            "tab.create"
        ]
    );
}

#[tokio::test]
async fn mine_follows_organizrs_visibility_rule_in_order() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    for (name, group_id, group_id_max, enabled) in [
        ("Everyone", 999, 0, true),
        ("Users", 4, 0, true),
        ("Staff", 2, 0, true),
        ("Not admins", 4, 2, true),
        ("Off", 999, 0, false),
        ("Admins", 0, 0, true),
    ] {
        add_tab(
            &app,
            &admin,
            json!({"name": name, "url": "/x/", "group_id": group_id, "group_id_max": group_id_max, "enabled": enabled}),
        )
        .await;
    }
    let staff = app.signed_in("staff", 2).await;
    let user = app.signed_in("user", 4).await;
    let guest = app.signed_in("guest", 999).await;
    for (who, client, expected) in [
        (
            "admin",
            &admin,
            vec!["Everyone", "Users", "Staff", "Admins"],
        ),
        (
            "group 2",
            &staff,
            vec!["Everyone", "Users", "Staff", "Not admins"],
        ),
        ("group 4", &user, vec!["Everyone", "Users", "Not admins"]),
        ("group 999", &guest, vec!["Everyone"]),
    ] {
        let (status, b) = send(&app, client, "GET", "/api/v2/tabs/mine", None).await;
        assert_eq!(status, 200, "{who}");
        assert_eq!(names(&b), expected, "{who}");
    }
    let (status, b) = send(&app, &bare(), "GET", "/api/v2/tabs/mine", None).await;
    assert_eq!(status, 401);
    assert_error(&b, "unauthenticated");
}

#[tokio::test]
async fn bad_tabs_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let ok = json!({"name": "Plex", "url": "/plex/", "group_id": 4});
    let with = |key: &str, value: Value| {
        let mut b = ok.clone();
        b[key] = value;
        b
    };
    for (body, field) in [
        (with("url", json!("javascript:alert(1)")), "url"),
        (with("url", json!("JAVASCRIPT:alert(1)")), "url"),
        (
            with("url", json!("data:text/html,<script>x</script>")),
            "url",
        ),
        (with("url", json!("//evil.example.com/")), "url"),
        (with("url", json!("plex")), "url"),
        (with("url", json!("")), "url"),
        (with("icon", json!("javascript:alert(1)")), "icon"),
        (with("icon", json!("<img>")), "icon"),
        (with("name", json!("")), "name"),
        (with("name", json!("42")), "name"),
        (with("group_id", json!(1000)), "group_id"),
        (with("group_id_max", json!(5)), "group_id_max"),
        (with("type", json!("popup")), "type"),
        (with("category", json!("c".repeat(65))), "category"),
        (json!({"url": "/plex/", "group_id": 4}), "name"),
        (json!({"name": "Plex", "group_id": 4}), "url"),
        (json!({"name": "Plex", "url": "/plex/"}), "group_id"),
    ] {
        let (status, b) = send(&app, &admin, "POST", "/api/v2/tabs", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {b}");
        assert_error(&b, "invalid_input");
        assert!(
            b["error"]["fields"][field].is_string(),
            "{field} not named: {b}"
        );
    }
    let tab = add_tab(&app, &admin, ok.clone()).await;
    let (status, b) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/tabs",
        Some(with("name", json!("PLEX"))),
    )
    .await;
    assert_eq!(status, 409, "{b}");
    assert!(b["error"]["fields"]["name"].is_string(), "{b}");
    let path = format!("/api/v2/tabs/{}", tab["id"]);
    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        &path,
        Some(json!({"url": "javascript:void(0)"})),
    )
    .await;
    assert_eq!(status, 400, "{b}");
    let (status, _) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/tabs",
        Some(with("colour", json!("red"))),
    )
    .await;
    assert_eq!(status, 400);
    // Nothing of that was saved.
    let (_, list) = send(&app, &admin, "GET", "/api/v2/tabs", None).await;
    assert_eq!(list["tabs"], json!([tab]));

    // Administration is for admins; `mine` for anyone signed in.
    let user = app.signed_in("plain", 2).await;
    for (method, p) in [
        ("GET", "/api/v2/tabs".to_string()),
        ("POST", "/api/v2/tabs".to_string()),
        ("PATCH", path.clone()),
        ("DELETE", path.clone()),
        ("POST", "/api/v2/tabs/order".to_string()),
    ] {
        let body = if method == "POST" && p.ends_with("order") {
            json!({"ids": []})
        } else {
            ok.clone()
        };
        let (status, b) = send(&app, &user, method, &p, Some(body.clone())).await;
        assert_eq!(status, 403, "{method} {p}");
        assert_error(&b, "forbidden");
        assert_eq!(
            send(&app, &bare(), method, &p, Some(body)).await.0,
            401,
            "{method} {p}"
        );
    }
}

#[tokio::test]
async fn a_tab_name_in_the_proxy_auth_url_means_its_group() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let staff = app.signed_in("staff", 2).await;
    let user = app.signed_in("alice", 4).await;
    let tab = add_tab(
        &app,
        &admin,
        json!({"name": "Tautulli Stats", "url": "/tautulli/", "group_id": 2}),
    )
    .await;
    for (path, staff_status, user_status) in [
        ("/api/v2/auth/Tautulli%20Stats", 200, 401),
        ("/api/v2/auth/tautulli%20stats", 200, 401),
        ("/api/v2/auth?group=TAUTULLI+STATS", 200, 401),
        ("/api/v2/auth-tautulli%20stats", 200, 401),
        ("/api/v2/organizr-auth/Tautulli%20Stats", 200, 401),
        // Exact names only: Organizr's LIKE %name% would have matched these.
        ("/api/v2/auth/Tautulli", 401, 401),
        ("/api/v2/auth/Stats", 401, 401),
        ("/api/v2/auth/nothing", 401, 401),
    ] {
        assert_eq!(auth(&app, &staff, path).await, staff_status, "staff {path}");
        assert_eq!(auth(&app, &user, path).await, user_status, "user {path}");
    }
    assert_eq!(
        auth(&app, &bare(), "/api/v2/auth/Tautulli%20Stats").await,
        401
    );

    // Changes apply at once: a wider group, a rename, a delete.
    let path = format!("/api/v2/tabs/{}", tab["id"]);
    send(&app, &admin, "PATCH", &path, Some(json!({"group_id": 4}))).await;
    assert_eq!(
        auth(&app, &user, "/api/v2/auth/tautulli%20stats").await,
        200
    );
    send(&app, &admin, "PATCH", &path, Some(json!({"name": "Stats"}))).await;
    assert_eq!(
        auth(&app, &user, "/api/v2/auth/tautulli%20stats").await,
        401
    );
    assert_eq!(auth(&app, &user, "/api/v2/auth/stats").await, 200);
    // A disabled tab still guards its app with its group (hidden only from the portal).
    send(
        &app,
        &admin,
        "PATCH",
        &path,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(auth(&app, &user, "/api/v2/auth/stats").await, 200);
    assert_eq!(send(&app, &admin, "DELETE", &path, None).await.0, 204);
    assert_eq!(auth(&app, &user, "/api/v2/auth/stats").await, 401);
}

#[tokio::test]
async fn tabs_saved_by_another_process_reach_proxy_auth_through_the_change_feed() {
    let app = TestApp::spawn().await;
    let user = app.signed_in("alice", 4).await;
    assert_eq!(auth(&app, &user, "/api/v2/auth/ombi").await, 401);
    // Straight into the store, as the CLI or another instance would: only the feed tells us.
    let fields = usher::store::TabFields {
        name: "Ombi".into(),
        url: "/ombi/".into(),
        icon: None,
        group_id: 4,
        group_id_max: 0,
        kind: usher::domain::TabKind::NewWindow,
        category: None,
        enabled: true,
    };
    app.core
        .store
        .create_tab(&fields, &usher::store::Actor::cli())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    while auth(&app, &user, "/api/v2/auth/ombi").await != 200 {
        assert!(
            started.elapsed().as_secs() < 5,
            "the feed did not deliver the tab"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_portal_page_links_the_persons_tabs() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    add_tab(
        &app,
        &admin,
        json!({"name": "Plex", "url": "/plex/", "group_id": 4}),
    )
    .await;
    add_tab(
        &app,
        &admin,
        json!({"name": "Requests", "url": "https://ombi.example.com/?a=1&b=2", "group_id": 4, "type": "new_window", "category": "Media"}),
    )
    .await;
    add_tab(
        &app,
        &admin,
        json!({"name": "Secret <b>Admin</b>", "url": "/admin/", "group_id": 0}),
    )
    .await;
    let user = app.signed_in("alice", 4).await;
    let (_, html, _) = get(&user, &app, "/").await;
    // An embedded tab opens inside the portal; a new-window tab links the app itself.
    let plex_id = html
        .split(r#"<a href="/?tab="#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a portal link for the Plex tab");
    assert!(
        html.contains(&format!(r#"<a href="/?tab={plex_id}" data-tab="Plex">"#)),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="https://ombi.example.com/?a=1&amp;b=2" data-tab="Requests" target="_blank" rel="noopener">"#),
        "{html}"
    );
    let (_, framed, headers) = get(&user, &app, &format!("/?tab={plex_id}")).await;
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-src 'self'"), "{csp}");
    assert!(
        framed.contains(r#"<iframe class="app" id="app-frame" src="/plex/""#),
        "{framed}"
    );
    assert!(!html.contains("Secret"), "{html}");
    let (_, html, _) = get(&admin, &app, "/").await;
    assert!(html.contains("Secret &lt;b&gt;Admin&lt;/b&gt;"), "{html}");
    let nobody = app.signed_in("nobody", 999).await;
    let (_, html, _) = get(&nobody, &app, "/").await;
    assert!(html.contains(r#"id="no-tabs""#), "{html}");
}
