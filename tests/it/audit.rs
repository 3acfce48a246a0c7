//! The audit trail over real HTTP: sign-ins and refused sign-ins with method, reason and IP;
//! before/after on edits with secrets masked; filters and paging of `GET /api/v2/audit`; who may
//! read it (a Co-Admin not about the Admin); the retention job; the Audit page.

use std::time::Duration;

use reqwest::Client;
use serde_json::{json, Value};

use crate::api_login::{db, send};
use crate::support::{TestApp, PASSWORD};

/// A sign-in through a proxy (loopback is trusted) that says the browser is at `ip`.
async fn login_from(app: &TestApp, client: &Client, name: &str, password: &str, ip: &str) -> u16 {
    client
        .post(app.url("/api/v2/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `GET /api/v2/audit?{query}` as `admin`, expecting 200.
async fn audit(app: &TestApp, admin: &Client, query: &str) -> Value {
    let (status, body) = send(app, admin, "GET", &format!("/api/v2/audit?{query}"), None).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// The entries of a query once `pred` holds for one of them (failures are written in the
/// background, so they may take a moment).
async fn wait_for(
    app: &TestApp,
    admin: &Client,
    query: &str,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    for _ in 0..100 {
        let body = audit(app, admin, query).await;
        let entries = body["entries"].as_array().unwrap().clone();
        if entries.iter().any(&pred) {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no matching entry for {query}: {}",
        audit(app, admin, query).await
    );
}

#[tokio::test]
async fn sign_ins_and_refusals_are_recorded_with_method_reason_and_ip() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let alice = app.add_user("alice", 4).await.id;
    let bob = app.add_user("bob", 4).await.id;
    let c = app.client();

    assert_eq!(
        login_from(&app, &c, "alice", PASSWORD, "203.0.113.7").await,
        200
    );
    assert_eq!(
        login_from(&app, &c, "alice", "not her password", "203.0.113.8").await,
        401
    );
    // Someone types a password into the name box: it names nobody and must not be written.
    assert_eq!(
        login_from(&app, &c, "Hunter2-typed-as-name", "x", "203.0.113.9").await,
        401
    );
    app.core
        .edit_user(
            bob,
            usher::auth::accounts::EditUser {
                locked: Some(true),
                ..Default::default()
            },
            &usher::auth::accounts::Acting::cli(),
        )
        .await
        .unwrap();
    assert_eq!(
        login_from(&app, &app.client(), "bob", PASSWORD, "198.51.100.4").await,
        423
    );

    let (a, b) = (alice.to_string(), bob.to_string());
    let entries = wait_for(&app, &admin, "action=login&limit=200", |e| {
        e["detail"]["reason"] == "locked"
    })
    .await;
    let find = |pred: &dyn Fn(&Value) -> bool| {
        entries
            .iter()
            .find(|e| pred(e))
            .unwrap_or_else(|| panic!("missing entry in {entries:#?}"))
            .clone()
    };
    let ok = find(&|e| e["action"] == "login.success" && e["target"] == a.as_str());
    assert_eq!(ok["ip"], "203.0.113.7");
    assert_eq!(ok["detail"]["method"], "local");
    assert_eq!(ok["actor"], "alice");

    let wrong = find(&|e| e["action"] == "login.failure" && e["target"] == a.as_str());
    assert_eq!(wrong["ip"], "203.0.113.8");
    assert_eq!(
        wrong["detail"],
        json!({"method": "local", "reason": "wrong password"})
    );
    assert_eq!(wrong["subject"], "alice");
    assert_eq!(wrong["actor_id"], Value::Null, "nobody was signed in");

    let unknown = find(&|e| e["ip"] == "203.0.113.9");
    assert_eq!(unknown["action"], "login.failure");
    assert_eq!(unknown["target"], Value::Null);
    assert_eq!(unknown["detail"]["reason"], "unknown user");

    let locked = find(&|e| e["detail"]["reason"] == "locked");
    assert_eq!(locked["target"], b.as_str());
    assert_eq!(locked["ip"], "198.51.100.4");

    let text = audit(&app, &admin, "limit=200").await.to_string();
    for secret in ["not her password", "Hunter2", PASSWORD, "argon2"] {
        assert!(!text.contains(secret), "the audit log holds {secret:?}");
    }

    // Signing out is recorded too.
    let r = c
        .post(app.url("/api/v2/logout"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let out = audit(&app, &admin, "action=session.logout").await;
    assert_eq!(out["entries"][0]["target"], a.as_str(), "{out}");
    assert_eq!(out["entries"][0]["ip"], "203.0.113.7", "{out}");
    assert_eq!(out["entries"][0]["actor"], "alice", "{out}");
}

#[tokio::test]
async fn user_edits_show_before_and_after_without_the_password() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let alice = app.add_user("alice", 4).await.id;
    let path = format!("/api/v2/users/{alice}");
    let (status, body) = send(
        &app,
        &admin,
        "PATCH",
        &path,
        Some(json!({"email": "alice@new.example", "group_id": 3})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = send(
        &app,
        &admin,
        "PATCH",
        &path,
        Some(json!({"password": "a brand new secret"})),
    )
    .await;
    assert_eq!(status, 200);

    let body = audit(&app, &admin, &format!("person={alice}&action=user")).await;
    let entries = body["entries"].as_array().unwrap();
    let edit = entries
        .iter()
        .find(|e| e["action"] == "user.group")
        .expect("the edit");
    assert_eq!(
        edit["detail"]["before"],
        json!({"email": "alice@example.com", "group_id": 4})
    );
    assert_eq!(
        edit["detail"]["after"],
        json!({"email": "alice@new.example", "group_id": 3})
    );
    assert_eq!(edit["actor"], "root");
    assert_eq!(edit["subject"], "alice");
    let password = entries
        .iter()
        .find(|e| e["action"] == "user.password")
        .unwrap();
    assert_eq!(
        password["detail"]["before"],
        json!({"password": "********"})
    );
    assert_eq!(password["detail"]["after"], json!({"password": "********"}));
    let text = body.to_string();
    assert!(
        !text.contains("a brand new secret") && !text.contains("argon2"),
        "{text}"
    );
}

#[tokio::test]
async fn tab_and_group_edits_show_before_and_after() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let (status, tab) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/tabs",
        Some(json!({"name": "Sonarr", "url": "https://tv.example.com/", "group_id": 4})),
    )
    .await;
    assert_eq!(status, 201, "{tab}");
    let path = format!("/api/v2/tabs/{}", tab["tab"]["id"]);
    let patch = json!({"name": "Series", "url": "https://me:tab-password@tv.example.com/"});
    let (status, body) = send(&app, &admin, "PATCH", &path, Some(patch)).await;
    assert_eq!(status, 200, "{body}");
    let body = audit(&app, &admin, "action=tab.update").await;
    assert_eq!(
        body["entries"][0]["detail"],
        json!({
            "name": "Series",
            "before": {"name": "Sonarr", "url": "https://tv.example.com/"},
            "after": {"name": "Series", "url": "https://me:********@tv.example.com/"},
        })
    );
    let (status, _) = send(&app, &admin, "DELETE", &path, None).await;
    assert_eq!(status, 204);
    let body = audit(&app, &admin, "action=tab").await;
    assert_eq!(body["entries"][0]["action"], "tab.delete");
    assert_eq!(body["entries"][0]["detail"]["before"]["name"], "Series");
    assert!(!body.to_string().contains("tab-password"), "{body}");

    let (status, b) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/groups",
        Some(json!({"name": "Family"})),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let path = format!("/api/v2/groups/{}", b["group"]["id"]);
    let (status, b) = send(&app, &admin, "PATCH", &path, Some(json!({"name": "Kin"}))).await;
    assert_eq!(status, 200, "{b}");
    let body = audit(&app, &admin, "action=group.rename").await;
    let detail = &body["entries"][0]["detail"];
    assert_eq!(detail["before"], json!({"name": "Family"}));
    assert_eq!(detail["after"], json!({"name": "Kin"}));
}

#[tokio::test]
async fn settings_changes_show_before_and_after_with_secrets_masked() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    for (token, days) in [("first-secret-token", 3), ("second-secret-token", 5)] {
        let (status, body) = send(
            &app,
            &admin,
            "PATCH",
            "/api/v2/settings",
            Some(json!({
                "sso.ombi.url": "http://127.0.0.1:9",
                "sso.ombi.token": token,
                "remember_days": days,
            })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let body = audit(&app, &admin, "action=settings.update").await;
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{body}");
    let (second, first) = (&entries[0]["detail"], &entries[1]["detail"]);
    assert_eq!(first["remember_days"], json!({"before": 7, "after": 3}));
    assert_eq!(second["remember_days"], json!({"before": 3, "after": 5}));
    assert_eq!(
        first["sso.ombi.token"],
        json!({"before": null, "after": "********"})
    );
    assert_eq!(
        second["sso.ombi.token"],
        json!({"before": "********", "after": "********"})
    );
    let text = body.to_string();
    assert!(!text.contains("secret-token"), "{text}");
}

#[tokio::test]
async fn filters_and_paging() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let alice = app.add_user("alice", 4).await.id;
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, &app.client(), "alice", PASSWORD, "192.0.2.1").await,
            200
        );
    }
    // By person: id or name, what they did and what was done to them.
    let by_id = audit(&app, &admin, &format!("person={alice}")).await;
    let by_name = audit(&app, &admin, "person=ALICE").await;
    assert_eq!(by_id["entries"], by_name["entries"]);
    let actions: Vec<&str> = by_id["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "login.success",
            "login.success",
            "login.success",
            "user.create"
        ]
    );
    // By action: exact, or the family.
    assert_eq!(
        audit(&app, &admin, "action=login.success").await["total"],
        4
    );
    assert_eq!(audit(&app, &admin, "action=login").await["total"], 4);
    assert_eq!(audit(&app, &admin, "action=login.succ").await["total"], 0);
    // By time.
    let now = usher::domain::now();
    assert_eq!(
        audit(&app, &admin, &format!("until={}", now - 3600)).await["total"],
        0
    );
    assert_eq!(
        audit(&app, &admin, &format!("since={}", now + 3600)).await["total"],
        0
    );
    let all = audit(&app, &admin, "since=2020-01-01&until=2999-12-31").await;
    let total = all["total"].as_i64().unwrap();
    assert!(total >= 6, "{all}");
    // Paging: pages of 2 walk every entry once, newest first.
    let mut seen = Vec::new();
    let mut offset = Some(0);
    while let Some(o) = offset {
        let page = audit(&app, &admin, &format!("limit=2&offset={o}")).await;
        assert_eq!(page["total"], total);
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 2);
        seen.extend(entries.iter().map(|e| e["id"].as_i64().unwrap()));
        offset = page["next_offset"].as_i64();
    }
    assert_eq!(seen.len() as i64, total);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");
    // Bad filters are refused, naming the field.
    for (query, field) in [
        ("since=yesterday", "since"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("offset=-1", "offset"),
        ("person=nobody", "person"),
        ("action=x%27%20OR%201=1", "action"),
    ] {
        let (status, body) =
            send(&app, &admin, "GET", &format!("/api/v2/audit?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{body}");
        assert!(
            body["error"]["fields"][field].is_string(),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn only_admins_read_it_and_a_co_admin_not_about_the_admin() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let root = app.core.user_by_name("root").await.unwrap().id;
    let co = app.signed_in("co", 1).await;
    for group in [2, 4] {
        let c = app.signed_in(&format!("user{group}"), group).await;
        let (status, body) = send(&app, &c, "GET", "/api/v2/audit", None).await;
        assert_eq!(status, 403, "{body}");
    }
    let about_root = |e: &Value| e["actor_id"] == root || e["subject_id"] == root;
    let all = audit(&app, &admin, "limit=200").await;
    assert!(all["entries"].as_array().unwrap().iter().any(about_root));
    let seen_by_co = audit(&app, &co, "limit=200").await;
    let entries = seen_by_co["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(!entries.iter().any(about_root), "{seen_by_co}");
    assert_eq!(seen_by_co["total"].as_i64().unwrap(), entries.len() as i64);
    // Nor by asking for them.
    assert_eq!(
        audit(&app, &co, &format!("person={root}")).await["total"],
        0
    );
}

#[tokio::test]
async fn retention_removes_old_entries() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let co = app.signed_in("co", 1).await;
    // Only the Admin may shorten it (a Co-Admin could erase their traces).
    let (status, body) = send(
        &app,
        &co,
        "PATCH",
        "/api/v2/settings",
        Some(json!({"audit.retention_days": 1})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let pool = db(&app).await;
    let now = usher::domain::now();
    for (days, action) in [(100, "test.ancient"), (40, "test.old"), (10, "test.recent")] {
        sqlx::query("INSERT INTO audit_log (at, action) VALUES ($1, $2)")
            .bind(now - days * 86_400)
            .bind(action)
            .execute(&pool)
            .await
            .unwrap();
    }
    let left = |body: Value| -> Vec<String> {
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    };
    // The default keeps 90 days.
    assert_eq!(app.core.enforce_audit_retention().await.unwrap(), 1);
    assert_eq!(
        left(audit(&app, &admin, "action=test").await),
        ["test.recent", "test.old"]
    );
    let (status, body) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/settings",
        Some(json!({"audit.retention_days": 30})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.core.enforce_audit_retention().await.unwrap(), 1);
    assert_eq!(
        left(audit(&app, &admin, "action=test").await),
        ["test.recent"]
    );
    assert!(audit(&app, &admin, "action=login.success").await["total"].as_i64() > Some(0));
}

#[tokio::test]
async fn the_audit_page_lists_filters_and_pages_entries() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    app.add_user("alice", 4).await;
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, &app.client(), "alice", "wrong one", "192.0.2.44").await,
            401
        );
    }
    wait_for(&app, &admin, "action=login.failure", |e| {
        e["ip"] == "192.0.2.44"
    })
    .await;
    let page = |path: &'static str| {
        let admin = admin.clone();
        let url = app.url(path);
        async move {
            let r = admin.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, html) = page("/audit").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<table class="cards" id="audit">"#),
        "{html}"
    );
    assert!(html.contains("<code>login.success</code>"), "{html}");
    assert!(html.contains("<code>login.failure</code>") && html.contains("192.0.2.44"));
    assert!(html.contains(r#"aria-current="page">Audit</a>"#));
    // Filtered and paged: one failure per page, a link to the next.
    let (status, html) = page("/audit?action=login.failure&limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(
        html.matches("<code>login.failure</code>").count(),
        1,
        "{html}"
    );
    assert!(!html.contains("<code>login.success</code>"), "{html}");
    assert!(html.contains("Entries 1–1 of 2."), "{html}");
    assert!(
        html.contains(r#"href="/audit?action=login.failure&amp;offset=1&amp;limit=1" rel="next""#),
        "{html}"
    );
    let (_, html) = page("/audit?action=login.failure&offset=1&limit=1").await;
    assert!(
        html.contains(r#"rel="prev""#) && !html.contains(r#"rel="next""#),
        "{html}"
    );
    // A bad filter is shown next to the form.
    let (status, html) = page("/audit?since=someday").await;
    assert_eq!(status, 400);
    assert!(
        html.contains("since: must be epoch seconds or a date"),
        "{html}"
    );
}

#[tokio::test]
async fn plex_sign_ins_and_refusals_are_recorded_with_their_method() {
    use crate::support::plex_app::{PlexApp, PlexSetup};
    let p = PlexApp::with(PlexSetup {
        auth_type: "backend",
        strict: true,
        oauth: true,
    })
    .await;
    let c = p.app.client();
    assert_eq!(
        p.password_login(&c, "stranger", "stranger-pass").await.0,
        403
    );
    assert_eq!(p.password_login(&c, "Kids", "x").await.0, 401);
    assert_eq!(p.password_login(&c, "adminuser", "admin-pass").await.0, 200);
    let mut entries = Vec::new();
    for _ in 0..100 {
        entries = p.app.core.store.audit_recent(50).await.unwrap();
        if entries
            .iter()
            .filter(|e| e["action"] == "login.failure")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reason_of = |reason: &str| {
        entries
            .iter()
            .find(|e| e["action"] == "login.failure" && e["detail"]["reason"] == reason)
            .unwrap_or_else(|| panic!("no {reason:?} in {entries:#?}"))
            .clone()
    };
    let stranger = reason_of("not allowed on this Plex server");
    assert_eq!(stranger["detail"]["method"], "plex_password");
    assert_eq!(stranger["ip"], "127.0.0.1");
    assert_eq!(
        reason_of("plex.tv refused the password")["detail"]["method"],
        "plex_password"
    );
    let ok = entries
        .iter()
        .find(|e| e["action"] == "login.success")
        .unwrap();
    assert_eq!(ok["detail"]["method"], "plex_password", "{ok}");
    let text = serde_json::to_string(&entries).unwrap();
    assert!(
        !text.contains("stranger-pass") && !text.contains("admin-pass"),
        "{text}"
    );
}
