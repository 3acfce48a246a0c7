//! Group administration over real HTTP: custom groups 5–997, renames that reach the proxy-auth
//! headers at once, one default group, and deletes refused while somebody is in the group.

use serde_json::{json, Value};

use crate::api_login::{bare, send};
use crate::support::{assert_error, TestApp};

fn ids(list: &Value) -> Vec<i64> {
    list["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect()
}

/// Asserts a refusal that names the field.
fn assert_field(body: &Value, code: &str, field: &str) {
    assert_error(body, code);
    assert!(
        body["error"]["fields"][field]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "field {field} not named: {body}"
    );
}

#[tokio::test]
async fn custom_groups_are_added_renamed_and_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let (status, b) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/groups",
        Some(json!({"name": "Family"})),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(
        b["group"],
        json!({"id": 5, "name": "Family", "is_default": false})
    );
    let (status, b) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/groups",
        Some(json!({"id": 500, "name": "Friends"})),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["group"]["id"], 500);
    let (_, list) = send(&app, &admin, "GET", "/api/v2/groups", None).await;
    assert_eq!(ids(&list), vec![0, 1, 2, 3, 4, 5, 500, 999]);

    // A member of 500 passes /auth/500 and not /auth/4; the group cannot go while they are in it.
    let friend = app.signed_in("pal", 500).await;
    assert_eq!(
        send(&app, &friend, "GET", "/api/v2/auth/500", None).await.0,
        200
    );
    assert_eq!(
        send(&app, &friend, "GET", "/api/v2/auth/4", None).await.0,
        401
    );
    let (status, b) = send(&app, &admin, "DELETE", "/api/v2/groups/500", None).await;
    assert_eq!(status, 409, "{b}");
    assert_field(&b, "conflict", "id");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("1 user"),
        "{b}"
    );
    let pal = app.core.user_by_name("pal").await.unwrap().id;
    let (status, _) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{pal}"),
        Some(json!({"group_id": 5})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        send(&app, &admin, "DELETE", "/api/v2/groups/500", None)
            .await
            .0,
        204
    );
    let (_, list) = send(&app, &admin, "GET", "/api/v2/groups", None).await;
    assert_eq!(ids(&list), vec![0, 1, 2, 3, 4, 5, 999]);
    let (status, b) = send(&app, &admin, "DELETE", "/api/v2/groups/500", None).await;
    assert_eq!(status, 404, "{b}");
    // Users can no longer be put in the deleted group.
    let (status, _) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{pal}"),
        Some(json!({"group_id": 500})),
    )
    .await;
    assert_eq!(status, 400);
    // Built-in groups are never deleted.
    for id in [0, 1, 4, 999] {
        let (status, b) = send(
            &app,
            &admin,
            "DELETE",
            &format!("/api/v2/groups/{id}"),
            None,
        )
        .await;
        assert_eq!(status, 409, "group {id}: {b}");
    }

    let (_, audit) = send(&app, &admin, "GET", "/api/v2/audit", None).await;
    let actions: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("group."))
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("group.delete", "500"),
            ("group.create", "500"),
            ("group.create", "5")
        ]
    );
}

#[tokio::test]
async fn a_rename_reaches_the_proxy_auth_headers_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let user = app.signed_in("alice", 4).await;
    let r = user.get(app.url("/api/v2/auth/4")).send().await.unwrap();
    assert_eq!(r.headers()["remote-groups"], "User");
    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/groups/4",
        Some(json!({"name": "Friends"})),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        b["group"],
        json!({"id": 4, "name": "Friends", "is_default": true})
    );
    let r = user.get(app.url("/api/v2/auth/4")).send().await.unwrap();
    assert_eq!(r.headers()["remote-groups"], "Friends");
    // Same name in another case is fine for the same group, taken for another.
    let (status, _) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/groups/4",
        Some(json!({"name": "FRIENDS"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/groups/3",
        Some(json!({"name": "friends"})),
    )
    .await;
    assert_eq!(status, 409, "{b}");
    assert_field(&b, "conflict", "name");
    let (status, b) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/groups",
        Some(json!({"name": "admin"})),
    )
    .await;
    assert_eq!(status, 409, "{b}");
    assert_field(&b, "conflict", "name");
    let (_, audit) = send(&app, &admin, "GET", "/api/v2/audit", None).await;
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "group.rename"
            && e["target"] == "4"
            && e["detail"]["name"] == "Friends"));
}

/// `Remote-Groups` is a comma-separated list to apps that follow Authelia: a group name with a
/// separator is refused (see the test above), and one stored before that rule is never sent as
/// a splittable value.
#[tokio::test]
async fn group_names_with_list_separators_never_reach_remote_groups() {
    let app = TestApp::spawn().await;
    let user = app.signed_in("alice", 4).await;
    let r = user.get(app.url("/api/v2/auth/4")).send().await.unwrap();
    assert_eq!(r.headers()["remote-groups"], "User");

    // A name stored before the rule (written straight to the database, as an old install has it).
    let db = crate::api_login::db(&app).await;
    sqlx::query("UPDATE groups SET name = 'Friends, Admin' WHERE id = 4")
        .execute(&db)
        .await
        .unwrap();
    app.core.sessions.invalidate_all();
    let r = user.get(app.url("/api/v2/auth/4")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["remote-groups"], "", "never a splittable list");
    assert_eq!(r.headers()["x-organizr-group"], "4");
    assert_eq!(r.headers()["remote-user"], "alice");
}

#[tokio::test]
async fn exactly_one_group_is_the_default_and_new_users_join_it() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/groups/3",
        Some(json!({"is_default": true})),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["group"]["is_default"], true);
    let (_, list) = send(&app, &admin, "GET", "/api/v2/groups", None).await;
    let defaults: Vec<i64> = list["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["is_default"] == true)
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    assert_eq!(defaults, vec![3]);
    let (status, b) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/users",
        Some(json!({"username": "newbie", "password": "long enough pw"})),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["user"]["group_id"], 3);
    // The default group cannot be deleted; "not default" and admin groups are refused.
    let (_, b) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/groups",
        Some(json!({"name": "Kids"})),
    )
    .await;
    let kids = b["group"]["id"].as_i64().unwrap();
    send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/groups/{kids}"),
        Some(json!({"is_default": true})),
    )
    .await;
    let (status, b) = send(
        &app,
        &admin,
        "DELETE",
        &format!("/api/v2/groups/{kids}"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{b}");
    assert_field(&b, "conflict", "is_default");
    for (id, body) in [
        (3, json!({"is_default": false})),
        (0, json!({"is_default": true})),
        (1, json!({"is_default": true})),
    ] {
        let (status, b) = send(
            &app,
            &admin,
            "PATCH",
            &format!("/api/v2/groups/{id}"),
            Some(body),
        )
        .await;
        assert_eq!(status, 400, "{id}: {b}");
        assert_field(&b, "invalid_input", "is_default");
    }
    assert_eq!(app.core.store.default_group().await.unwrap(), kids);
    let (status, _) = send(
        &app,
        &admin,
        "PATCH",
        "/api/v2/groups/77",
        Some(json!({"is_default": true})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn invalid_group_numbers_and_names_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    for id in [-1, 0, 4, 998, 999, 1000] {
        let (status, b) = send(
            &app,
            &admin,
            "POST",
            "/api/v2/groups",
            Some(json!({"id": id, "name": format!("g{id}")})),
        )
        .await;
        assert_eq!(status, 400, "id {id}: {b}");
        assert_field(&b, "invalid_input", "id");
    }
    let long = "x".repeat(65);
    for name in [
        "",
        " padded",
        "bell\u{7}",
        &long,
        // Apps that split Remote-Groups would read two groups; invisible characters do not show.
        "Friends, admins",
        "Friends;admins",
        "Friends\u{ff0c} admins",
        "Friends\u{200b}",
        "Friends\u{202e}",
    ] {
        let (status, b) = send(
            &app,
            &admin,
            "POST",
            "/api/v2/groups",
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(status, 400, "{name:?}: {b}");
        assert_field(&b, "invalid_input", "name");
        let (status, b) = send(
            &app,
            &admin,
            "PATCH",
            "/api/v2/groups/2",
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(status, 400, "rename to {name:?}");
        assert_field(&b, "invalid_input", "name");
    }
    send(
        &app,
        &admin,
        "POST",
        "/api/v2/groups",
        Some(json!({"id": 7, "name": "Seven"})),
    )
    .await;
    let (status, b) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/groups",
        Some(json!({"id": 7, "name": "Other"})),
    )
    .await;
    assert_eq!(status, 409, "{b}");
    assert_field(&b, "conflict", "id");
    let (_, list) = send(&app, &admin, "GET", "/api/v2/groups", None).await;
    assert_eq!(ids(&list), vec![0, 1, 2, 3, 4, 7, 999]);
    assert_eq!(list["groups"][2]["name"], "Super User");
}

#[tokio::test]
async fn only_admins_manage_groups() {
    let app = TestApp::spawn().await;
    let user = app.signed_in("plain", 2).await;
    let co = app.signed_in("co", 1).await;
    let calls: Vec<(&str, &str, Option<Value>)> = vec![
        ("POST", "/api/v2/groups", Some(json!({"name": "Sneaky"}))),
        (
            "PATCH",
            "/api/v2/groups/4",
            Some(json!({"name": "Renamed"})),
        ),
        (
            "PATCH",
            "/api/v2/groups/2",
            Some(json!({"is_default": true})),
        ),
        ("DELETE", "/api/v2/groups/5", None),
    ];
    for (method, path, body) in &calls {
        let (status, b) = send(&app, &user, method, path, body.clone()).await;
        assert_eq!(status, 403, "{method} {path}");
        assert_error(&b, "forbidden");
        let (status, b) = send(&app, &bare(), method, path, body.clone()).await;
        assert_eq!(status, 401, "{method} {path}");
        assert_error(&b, "unauthenticated");
    }
    let groups = app.core.store.list_groups().await.unwrap();
    assert_eq!(groups.len(), 6);
    assert!(groups
        .iter()
        .any(|g| g.id == 4 && g.name == "User" && g.is_default));
    // Co-admins (group 1) are administrators too.
    let (status, b) = send(
        &app,
        &co,
        "POST",
        "/api/v2/groups",
        Some(json!({"name": "Family"})),
    )
    .await;
    assert_eq!(status, 201, "{b}");
}
