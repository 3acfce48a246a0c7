//! The admin API (groups 0 and 1) over real HTTP: users, groups, sessions, audit, and the rules
//! that keep co-admins below admins and never leave Usher without an unlocked admin.

use reqwest::Client;
use serde_json::{json, Value};

use crate::api_login::{bare, send};
use crate::support::{assert_error, TestApp, PASSWORD};

/// The id of a user, looked up through the store.
async fn id_of(app: &TestApp, name: &str) -> i64 {
    app.core.user_by_name(name).await.expect("user exists").id
}

async fn user_json(app: &TestApp, admin: &Client, id: i64) -> Value {
    let (status, body) = send(app, admin, "GET", &format!("/api/v2/users/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    body["user"].clone()
}

#[tokio::test]
async fn admin_endpoints_refuse_anonymous_and_non_admins() {
    let app = TestApp::spawn().await;
    let target = app.add_user("target", 4).await.id;
    let user = app.signed_in("plain", 4).await;
    let super_user = app.signed_in("super", 2).await;
    let co_admin = app.signed_in("co", 1).await;
    let anon = app.client();
    let endpoints: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v2/users".into(), None),
        (
            "POST",
            "/api/v2/users".into(),
            Some(json!({"username": "x1", "password": PASSWORD})),
        ),
        ("GET", format!("/api/v2/users/{target}"), None),
        (
            "PATCH",
            format!("/api/v2/users/{target}"),
            Some(json!({"email": "t@example.com"})),
        ),
        ("POST", format!("/api/v2/users/{target}/lock"), None),
        ("POST", format!("/api/v2/users/{target}/unlock"), None),
        ("GET", format!("/api/v2/users/{target}/sessions"), None),
        ("DELETE", format!("/api/v2/users/{target}/sessions"), None),
        ("GET", "/api/v2/groups".into(), None),
        ("GET", "/api/v2/sessions".into(), None),
        ("DELETE", "/api/v2/sessions/1".into(), None),
        ("GET", "/api/v2/audit".into(), None),
        ("GET", "/api/v2/settings".into(), None),
        (
            "PATCH",
            "/api/v2/settings".into(),
            Some(json!({"remember_days": 2})),
        ),
        ("DELETE", format!("/api/v2/users/{target}"), None),
    ];
    for (method, path, body) in &endpoints {
        let (status, b) = send(&app, &anon, method, path, body.clone()).await;
        assert_eq!(status, 401, "anonymous {method} {path}");
        assert_error(&b, "unauthenticated");
        for (who, client) in [("group 4", &user), ("group 2", &super_user)] {
            let (status, b) = send(&app, client, method, path, body.clone()).await;
            assert_eq!(status, 403, "{who} {method} {path}");
            assert_error(&b, "forbidden");
        }
    }
    // Nothing happened: the target is untouched and no user x1 exists.
    let t = app.core.store.get_user(target).await.unwrap().unwrap();
    assert!(!t.locked && t.email.as_deref() == Some("target@example.com"));
    assert!(app
        .core
        .store
        .find_user_by_name("x1")
        .await
        .unwrap()
        .is_none());
    assert_eq!(app.core.settings().remember_days, 7, "settings unchanged");
    // A co-admin (group 1) may use it.
    for path in ["/api/v2/users", "/api/v2/groups", "/api/v2/sessions"] {
        assert_eq!(
            send(&app, &co_admin, "GET", path, None).await.0,
            200,
            "{path}"
        );
    }
}

#[tokio::test]
async fn users_can_be_created_read_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let (status, body) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/users",
        Some(json!({"username": "Newbie", "email": "newbie@example.com", "password": "long enough pw"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let user = &body["user"];
    let id = user["id"].as_i64().unwrap();
    assert_eq!(user["username"], "Newbie");
    assert_eq!(user["email"], "newbie@example.com");
    assert_eq!(user["group_id"], 4, "the default group");
    assert_eq!(user["group_name"], "User");
    assert_eq!(user["locked"], false);
    assert_eq!(user["has_password"], true);
    assert!(!body.to_string().contains("argon2"), "{body}");
    assert_eq!(
        app.login(&app.client(), "newbie", "long enough pw")
            .await
            .status(),
        200
    );

    // Listed, and readable by id.
    let (status, list) = send(&app, &admin, "GET", "/api/v2/users", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Newbie", "root"]);
    assert!(!list.to_string().contains("$argon2"));
    assert_eq!(user_json(&app, &admin, id).await, *user);

    // Change name, email and group; the new name signs in.
    let (status, body) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{id}"),
        Some(json!({"username": "Veteran", "email": "vet@example.com", "group_id": 2})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "Veteran");
    assert_eq!(body["user"]["email"], "vet@example.com");
    assert_eq!(body["user"]["group_id"], 2);
    assert_eq!(body["user"]["group_name"], "Super User");
    assert_eq!(user_json(&app, &admin, id).await, body["user"]);
    let vet = app.client();
    assert_eq!(
        app.login(&vet, "veteran", "long enough pw").await.status(),
        200
    );
    assert_eq!(
        app.login(&app.client(), "newbie", "long enough pw")
            .await
            .status(),
        401
    );
    // An empty email clears it.
    let (_, body) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{id}"),
        Some(json!({"email": ""})),
    )
    .await;
    assert_eq!(body["user"]["email"], Value::Null);

    // A user without a password cannot sign in with any.
    let (status, body) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/users",
        Some(json!({"username": "plexonly", "group": 3})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["has_password"], false);
    assert_eq!(body["user"]["group_id"], 3);
    assert_eq!(
        app.login(&app.client(), "plexonly", "anything at all")
            .await
            .status(),
        401
    );

    // Delete: gone, sessions with it.
    let (status, _) = send(&app, &admin, "DELETE", &format!("/api/v2/users/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(app.get_json(&vet, "/api/v2/me").await.0, 401);
    for method in ["GET", "DELETE"] {
        let (status, body) = send(&app, &admin, method, &format!("/api/v2/users/{id}"), None).await;
        assert_eq!(status, 404, "{method}");
        assert_error(&body, "not_found");
    }
    let (status, _) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{id}"),
        Some(json!({"email": "x@example.com"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &app,
        &admin,
        "POST",
        &format!("/api/v2/users/{id}/lock"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.login(&app.client(), "veteran", "long enough pw")
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn taken_usernames_and_emails_are_409_whatever_the_case() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    app.add_user("alice", 4).await;
    let bob = app.add_user("bob", 4).await.id;
    app.add_user("Zoë", 4).await;
    for body in [
        json!({"username": "ALICE", "password": PASSWORD}),
        json!({"username": "ZOË", "password": PASSWORD}),
        json!({"username": "carol", "email": "Alice@Example.com", "password": PASSWORD}),
    ] {
        let (status, b) = send(&app, &admin, "POST", "/api/v2/users", Some(body.clone())).await;
        assert_eq!(status, 409, "{body}");
        assert_error(&b, "conflict");
    }
    for patch in [
        json!({"username": "Alice"}),
        json!({"email": "ALICE@example.com"}),
    ] {
        let (status, b) = send(
            &app,
            &admin,
            "PATCH",
            &format!("/api/v2/users/{bob}"),
            Some(patch.clone()),
        )
        .await;
        assert_eq!(status, 409, "{patch}");
        assert_error(&b, "conflict");
    }
    let b = app.core.store.get_user(bob).await.unwrap().unwrap();
    assert_eq!(b.username, "bob");
    assert_eq!(b.email.as_deref(), Some("bob@example.com"));
    // Renaming to a different case of one's own name is fine.
    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{bob}"),
        Some(json!({"username": "Bob"})),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["user"]["username"], "Bob");
}

#[tokio::test]
async fn invalid_groups_names_emails_and_passwords_are_400() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let bob = app.add_user("bob", 4).await.id;
    for group in [998, 1000, 5, -1] {
        let (status, b) = send(
            &app,
            &admin,
            "POST",
            "/api/v2/users",
            Some(json!({"username": format!("g{group}"), "password": PASSWORD, "group_id": group})),
        )
        .await;
        assert_eq!(status, 400, "group {group}");
        assert_error(&b, "invalid_input");
        let (status, _) = send(
            &app,
            &admin,
            "PATCH",
            &format!("/api/v2/users/{bob}"),
            Some(json!({"group_id": group})),
        )
        .await;
        assert_eq!(status, 400, "patch to group {group}");
    }
    for body in [
        json!({"username": "x".repeat(300), "password": PASSWORD}),
        json!({"username": "", "password": PASSWORD}),
        json!({"username": " padded", "password": PASSWORD}),
        json!({"username": "a/b", "password": PASSWORD}),
        json!({"username": "a@b", "password": PASSWORD}),
        json!({"username": "ctl\u{7}", "password": PASSWORD}),
        json!({"username": "okname", "email": "not-an-email", "password": PASSWORD}),
        json!({"username": "okname", "password": "short"}),
    ] {
        let (status, b) = send(&app, &admin, "POST", "/api/v2/users", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert_error(&b, "invalid_input");
    }
    // Body problems are JSON errors too.
    for (body, status, code) in [
        (json!({"username": 5}), 400, "invalid_request"),
        (
            json!({"username": "u", "role": "admin"}),
            400,
            "invalid_request",
        ),
        (
            json!({"username": "u", "group_id": "0"}),
            400,
            "invalid_request",
        ),
    ] {
        let (s, b) = send(&app, &admin, "POST", "/api/v2/users", Some(body.clone())).await;
        assert_eq!(s, status, "{body}");
        assert_error(&b, code);
    }
    let r = admin
        .post(app.url("/api/v2/users"))
        .header("content-type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_error(&r.json().await.unwrap(), "invalid_json");
    let r = admin
        .post(app.url("/api/v2/users"))
        .body(r#"{"username":"u"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_error(&r.json().await.unwrap(), "unsupported_media_type");
    // Ids that are not numbers.
    for (method, path) in [
        ("GET", "/api/v2/users/abc"),
        ("DELETE", "/api/v2/users/1.5"),
        ("POST", "/api/v2/users/x/lock"),
        ("DELETE", "/api/v2/sessions/abc"),
    ] {
        let (status, b) = send(&app, &admin, method, path, None).await;
        assert_eq!(status, 400, "{method} {path}");
        assert_error(&b, "invalid_request");
    }
    assert_eq!(app.core.store.list_users().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_co_admin_cannot_touch_admins_or_make_one() {
    let app = TestApp::spawn().await;
    let root = app.add_user("root", 0).await.id;
    let co = app.signed_in("co", 1).await;
    let plain = app.add_user("plain", 4).await.id;
    let forbidden: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/api/v2/users".into(),
            Some(json!({"username": "sneaky", "password": PASSWORD, "group_id": 0})),
        ),
        (
            "PATCH",
            format!("/api/v2/users/{root}"),
            Some(json!({"email": "mine@example.com"})),
        ),
        (
            "PATCH",
            format!("/api/v2/users/{root}"),
            Some(json!({"password": "taken over!"})),
        ),
        ("POST", format!("/api/v2/users/{root}/lock"), None),
        ("DELETE", format!("/api/v2/users/{root}"), None),
        (
            "PATCH",
            format!("/api/v2/users/{plain}"),
            Some(json!({"group_id": 0})),
        ),
    ];
    for (method, path, body) in forbidden {
        let (status, b) = send(&app, &co, method, &path, body.clone()).await;
        assert_eq!(status, 403, "{method} {path} {body:?}");
        assert_error(&b, "forbidden");
    }
    let r = app.core.store.get_user(root).await.unwrap().unwrap();
    assert!(r.group_id == 0 && !r.locked && r.email.as_deref() == Some("root@example.com"));
    assert_eq!(
        app.login(&app.client(), "root", PASSWORD).await.status(),
        200
    );
    assert_eq!(
        app.core
            .store
            .get_user(plain)
            .await
            .unwrap()
            .unwrap()
            .group_id,
        4
    );
    assert!(app
        .core
        .store
        .find_user_by_name("sneaky")
        .await
        .unwrap()
        .is_none());

    // What a co-admin may do: manage groups 1 and below it.
    let (status, b) = send(
        &app,
        &co,
        "PATCH",
        &format!("/api/v2/users/{plain}"),
        Some(json!({"group_id": 1})),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let (status, b) = send(
        &app,
        &co,
        "POST",
        "/api/v2/users",
        Some(json!({"username": "helper", "password": PASSWORD, "group_id": 2})),
    )
    .await;
    assert_eq!(status, 201, "{b}");
}

#[tokio::test]
async fn the_last_unlocked_admin_cannot_be_locked_demoted_or_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let root = id_of(&app, "root").await;
    let refused: Vec<(&str, String, Option<Value>)> = vec![
        ("POST", format!("/api/v2/users/{root}/lock"), None),
        (
            "PATCH",
            format!("/api/v2/users/{root}"),
            Some(json!({"locked": true})),
        ),
        (
            "PATCH",
            format!("/api/v2/users/{root}"),
            Some(json!({"group_id": 1})),
        ),
        ("DELETE", format!("/api/v2/users/{root}"), None),
    ];
    for (method, path, body) in &refused {
        let (status, b) = send(&app, &admin, method, path, body.clone()).await;
        assert_eq!(status, 403, "{method} {path}");
        assert_error(&b, "forbidden");
    }
    let r = app.core.store.get_user(root).await.unwrap().unwrap();
    assert!(r.group_id == 0 && !r.locked);

    // A second admin who is locked does not count.
    let second = app.add_user("second", 0).await.id;
    let (status, _) = send(
        &app,
        &admin,
        "POST",
        &format!("/api/v2/users/{second}/lock"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    for (method, path, body) in &refused {
        let (status, _) = send(&app, &admin, method, path, body.clone()).await;
        assert_eq!(status, 403, "with a locked second admin: {method} {path}");
    }
    // Once the second admin is unlocked, root may step down.
    let (status, b) = send(
        &app,
        &admin,
        "POST",
        &format!("/api/v2/users/{second}/unlock"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(b["user"]["locked"], false);
    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{root}"),
        Some(json!({"group_id": 1})),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    // Root is a co-admin now, effective at once: it may no longer touch the admin.
    let (status, _) = send(
        &app,
        &admin,
        "POST",
        &format!("/api/v2/users/{second}/lock"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (_, me) = app.get_json(&admin, "/api/v2/me").await;
    assert_eq!(me["group"]["id"], 1);
}

#[tokio::test]
async fn lock_and_unlock_take_effect_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let alice = app.signed_in("alice", 4).await;
    let alice_id = id_of(&app, "alice").await;
    let (status, b) = send(
        &app,
        &admin,
        "POST",
        &format!("/api/v2/users/{alice_id}/lock"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(b["user"]["locked"], true);
    let (status, b) = app.get_json(&alice, "/api/v2/me").await;
    assert_eq!(status, 423);
    assert_error(&b, "account_locked");
    assert_eq!(
        alice
            .get(app.url("/api/v2/auth/4"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        app.login(&app.client(), "alice", PASSWORD).await.status(),
        423
    );

    let (status, b) = send(
        &app,
        &admin,
        "POST",
        &format!("/api/v2/users/{alice_id}/unlock"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(b["user"]["locked"], false);
    assert_eq!(app.get_json(&alice, "/api/v2/me").await.0, 200);
    assert_eq!(
        alice
            .get(app.url("/api/v2/auth/4"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, _) = send(&app, &admin, "POST", "/api/v2/users/424242/unlock", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_new_password_ends_that_users_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let laptop = app.signed_in("alice", 4).await;
    let phone = app.client();
    assert_eq!(app.login(&phone, "alice", PASSWORD).await.status(), 200);
    let bob = app.signed_in("bob", 4).await;
    let alice_id = id_of(&app, "alice").await;
    // Warm the proxy cache, as nginx would have.
    assert_eq!(
        laptop
            .get(app.url("/api/v2/auth/4"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A refused password changes nothing.
    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{alice_id}"),
        Some(json!({"password": "short"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_error(&b, "invalid_input");
    assert_eq!(app.get_json(&laptop, "/api/v2/me").await.0, 200);

    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{alice_id}"),
        Some(json!({"password": "a brand new password"})),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    for c in [&laptop, &phone] {
        assert_eq!(app.get_json(c, "/api/v2/me").await.0, 401);
        assert_eq!(
            c.get(app.url("/api/v2/auth/4"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
    }
    assert!(app
        .core
        .sessions_of(Some(alice_id))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        app.login(&app.client(), "alice", PASSWORD).await.status(),
        401
    );
    assert_eq!(
        app.login(&app.client(), "alice", "a brand new password")
            .await
            .status(),
        200
    );
    // Nobody else was signed out.
    assert_eq!(app.get_json(&admin, "/api/v2/me").await.0, 200);
    assert_eq!(app.get_json(&bob, "/api/v2/me").await.0, 200);
}

#[tokio::test]
async fn sessions_can_be_listed_and_revoked_by_an_admin() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let alice1 = app.signed_in("alice", 4).await;
    let alice2 = app.client();
    assert_eq!(app.login(&alice2, "alice", PASSWORD).await.status(), 200);
    let bob = app.signed_in("bob", 4).await;
    let alice_id = id_of(&app, "alice").await;
    let bob_id = id_of(&app, "bob").await;

    let (status, b) = send(
        &app,
        &admin,
        "GET",
        &format!("/api/v2/users/{alice_id}/sessions"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let list = b["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{b}");
    assert!(list
        .iter()
        .all(|s| s["user_id"] == alice_id && s["username"] == "alice"));
    assert!(list
        .iter()
        .all(|s| s["ip"] == "127.0.0.1" && s["method"] == "local"));
    assert!(!b.to_string().contains("token"), "{b}");

    let (status, b) = send(&app, &admin, "GET", "/api/v2/sessions", None).await;
    assert_eq!(status, 200);
    let all = b["sessions"].as_array().unwrap();
    assert_eq!(all.len(), 4, "root, alice x2, bob: {b}");
    let bob_session = all.iter().find(|s| s["user_id"] == bob_id).unwrap()["id"]
        .as_i64()
        .unwrap();

    // Revoke one session of anybody.
    let (status, _) = send(
        &app,
        &admin,
        "DELETE",
        &format!("/api/v2/sessions/{bob_session}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(app.get_json(&bob, "/api/v2/me").await.0, 401);
    let (status, b) = send(
        &app,
        &admin,
        "DELETE",
        &format!("/api/v2/sessions/{bob_session}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_error(&b, "not_found");

    // Sign a user out everywhere.
    let (status, b) = send(
        &app,
        &admin,
        "DELETE",
        &format!("/api/v2/users/{alice_id}/sessions"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(b["revoked"], 2);
    for c in [&alice1, &alice2] {
        assert_eq!(app.get_json(c, "/api/v2/me").await.0, 401);
    }
    let (_, b) = send(
        &app,
        &admin,
        "GET",
        &format!("/api/v2/users/{alice_id}/sessions"),
        None,
    )
    .await;
    assert_eq!(b["sessions"], json!([]));
    assert_eq!(app.get_json(&admin, "/api/v2/me").await.0, 200);
    let (status, _) = send(
        &app,
        &admin,
        "DELETE",
        "/api/v2/users/777777/sessions",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, b) = send(&app, &admin, "GET", "/api/v2/users/777777/sessions", None).await;
    assert_eq!(status, 404, "{b}");
    assert_eq!(b["error"]["code"], "not_found");
}

#[tokio::test]
async fn groups_are_the_six_seeded_ones_with_user_as_default() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let (status, b) = send(&app, &admin, "GET", "/api/v2/groups", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        b["groups"],
        json!([
            {"id": 0, "name": "Admin", "is_default": false},
            {"id": 1, "name": "Co-Admin", "is_default": false},
            {"id": 2, "name": "Super User", "is_default": false},
            {"id": 3, "name": "Power User", "is_default": false},
            {"id": 4, "name": "User", "is_default": true},
            {"id": 999, "name": "Guest", "is_default": false},
        ])
    );
}

#[tokio::test]
async fn the_audit_log_records_who_did_what_without_secrets() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let root = id_of(&app, "root").await;
    let (status, b) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/users",
        Some(json!({"username": "audited", "password": "secret password 1"})),
    )
    .await;
    assert_eq!(status, 201);
    let audited = b["user"]["id"].as_i64().unwrap();
    send(
        &app,
        &admin,
        "POST",
        &format!("/api/v2/users/{audited}/lock"),
        None,
    )
    .await;
    send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{audited}"),
        Some(json!({"password": "secret password 2"})),
    )
    .await;

    let (status, b) = send(&app, &admin, "GET", "/api/v2/audit", None).await;
    assert_eq!(status, 200);
    let entries = b["entries"].as_array().unwrap();
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let (audited_target, root_target) = (audited.to_string(), root.to_string());
    let find = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["target"] == audited_target.as_str())
            .unwrap_or_else(|| panic!("no {action} entry: {b}"))
    };
    for action in ["user.create", "user.lock", "user.password"] {
        let e = find(action);
        assert_eq!(e["actor_id"], root, "{e}");
        assert_eq!(e["ip"], "127.0.0.1", "{e}");
    }
    assert!(entries
        .iter()
        .any(|e| e["action"] == "login.success" && e["target"] == root_target.as_str()));
    let text = b.to_string();
    for secret in ["secret password", PASSWORD, "argon2"] {
        assert!(!text.contains(secret), "audit log leaks {secret:?}");
    }
    // Non-admins cannot read it.
    let plain = app.signed_in("plain", 4).await;
    assert_eq!(
        send(&app, &plain, "GET", "/api/v2/audit", None).await.0,
        403
    );
    assert_eq!(
        send(&app, &bare(), "GET", "/api/v2/audit", None).await.0,
        401
    );
}

/// Many revocations at once (an admin's "sign out everywhere" clicks, the friends refresh) must
/// all succeed: on SQLite, transactions that read and then write used to fail with SQLITE_BUSY
/// under concurrency instead of waiting their turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_session_revocations_all_succeed() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let alice = app.add_user("alice", 4).await;
    let client = usher::auth::ClientInfo {
        ip: "127.0.0.1".parse().unwrap(),
        user_agent: None,
    };
    let mut ids = Vec::new();
    for _ in 0..24 {
        let s = app
            .core
            .start_session(
                alice.clone(),
                usher::domain::SessionMethod::Local,
                false,
                &client,
            )
            .await
            .unwrap();
        ids.push(s.session_id);
    }
    let mut set = tokio::task::JoinSet::new();
    for id in ids {
        let req = admin.delete(app.url(&format!("/api/v2/sessions/{id}")));
        set.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = set.join_next().await {
        statuses.push(status.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    let left = app.core.sessions_of(Some(alice.id)).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}
