//! Names as downstream apps see them, through the admin API: invisible characters refused,
//! look-alikes of held names refused (usernames and e-mail addresses), and a deleted or renamed
//! account's name kept from new accounts unless an administrator reuses it on purpose.

use serde_json::{json, Value};

use crate::api_login::send;
use crate::support::{assert_error, TestApp, PASSWORD};

/// Asserts a refusal that names the field, returning the field's reason.
fn refused(body: &Value, code: &str, field: &str) -> String {
    assert_error(body, code);
    body["error"]["fields"][field]
        .as_str()
        .unwrap_or_else(|| panic!("field {field} not named: {body}"))
        .to_string()
}

#[tokio::test]
async fn invisible_and_look_alike_names_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    app.add_user("admin", 4).await;
    app.add_user("sam", 4).await;
    let bob = app.add_user("bob", 4).await.id;
    let post = |body: Value| send(&app, &admin, "POST", "/api/v2/users", Some(body));

    for name in [
        "admin\u{200b}", // zero-width space
        "ad\u{ad}min",   // soft hyphen
        "\u{feff}admin", // byte-order mark
        "admin\u{202e}", // right-to-left override
        "\u{2067}admin", // right-to-left isolate
        "admin\u{200f}", // right-to-left mark
    ] {
        let (status, b) = post(json!({"username": name, "password": PASSWORD})).await;
        assert_eq!(status, 400, "{name:?}: {b}");
        assert!(refused(&b, "invalid_input", "username").contains("invisible"));
    }
    for name in ["\u{430}dmin", "adm\u{131}n", "\u{17f}am", "\u{ff41}dmin"] {
        let (status, b) = post(json!({"username": name, "password": PASSWORD})).await;
        assert_eq!(status, 409, "{name:?}: {b}");
        refused(&b, "conflict", "username");
    }
    let (_, b) = post(json!({"username": "\u{430}dmin", "password": PASSWORD})).await;
    assert!(
        refused(&b, "conflict", "username").contains("looks like the existing account \"admin\""),
        "{b}"
    );
    // The reuse flag is for retired names only: a held name's look-alike stays refused.
    let (status, _) =
        post(json!({"username": "adm\u{131}n", "password": PASSWORD, "reuse_retired_name": true}))
            .await;
    assert_eq!(status, 409);

    // E-mail addresses: nothing invisible, no look-alike of another account's.
    let (status, b) = post(
        json!({"username": "eve", "email": "ad\u{200b}min@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 400, "{b}");
    refused(&b, "invalid_input", "email");
    let (status, b) =
        post(json!({"username": "eve", "email": "\u{430}dmin@example.com", "password": PASSWORD}))
            .await;
    assert_eq!(status, 409, "{b}");
    refused(&b, "conflict", "email");

    // Renames follow the same rules.
    for (patch, status_wanted, field) in [
        (json!({"username": "s\u{430}m"}), 409, "username"),
        (json!({"username": "bob\u{200d}"}), 400, "username"),
        (json!({"email": "s\u{430}m@example.com"}), 409, "email"),
    ] {
        let (status, b) = send(
            &app,
            &admin,
            "PATCH",
            &format!("/api/v2/users/{bob}"),
            Some(patch.clone()),
        )
        .await;
        assert_eq!(status, status_wanted, "{patch}: {b}");
        assert!(b["error"]["fields"][field].is_string(), "{b}");
    }

    // A full-width name is stored in its plain form; what the API and the headers carry is that.
    let (status, b) = post(json!({"username": "\u{ff26}red", "password": PASSWORD})).await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["user"]["username"], "Fred");
    let fred = app.client();
    assert_eq!(app.login(&fred, "Fred", PASSWORD).await.status(), 200);
    let r = fred.get(app.url("/api/v2/auth/4")).send().await.unwrap();
    assert_eq!(r.headers()["remote-user"], "Fred");

    let names: Vec<String> = app
        .core
        .store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["admin", "bob", "Fred", "root", "sam"]);
}

#[tokio::test]
async fn a_retired_name_is_reused_only_on_purpose() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let carol = app.add_user("carol", 4).await.id;
    let dave = app.add_user("dave", 4).await.id;
    let (status, _) = send(
        &app,
        &admin,
        "DELETE",
        &format!("/api/v2/users/{carol}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{dave}"),
        Some(json!({"username": "david"})),
    )
    .await;
    assert_eq!(status, 200, "{b}");

    for name in ["carol", "CAROL", "c\u{430}rol", "dave", "d\u{430}ve"] {
        let (status, b) = send(
            &app,
            &admin,
            "POST",
            "/api/v2/users",
            Some(json!({"username": name, "password": PASSWORD})),
        )
        .await;
        assert_eq!(status, 409, "{name:?}: {b}");
        let why = refused(&b, "conflict", "username");
        assert!(
            why.contains("deleted or renamed") && why.contains("reuse_retired_name"),
            "{why}"
        );
    }
    // The renamed person may take their own old name back.
    let (status, b) = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/v2/users/{dave}"),
        Some(json!({"username": "Dave"})),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    // An administrator gives carol's name to a new person on purpose; that is audited.
    let (status, b) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/users",
        Some(json!({"username": "carol", "password": PASSWORD, "reuse_retired_name": true})),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let new_carol = b["user"]["id"].as_i64().unwrap();
    assert_ne!(new_carol, carol);
    let target = new_carol.to_string();
    let (_, audit) = send(&app, &admin, "GET", "/api/v2/audit", None).await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.reuse_name"
                && e["target"] == target.as_str()
                && e["detail"]["retired_name"] == "carol"),
        "{audit}"
    );
    // "david" is retired now in turn.
    let (status, _) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/users",
        Some(json!({"username": "david", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 409);
}

/// Accounts made before the look-alike check existed get their claims when Usher opens the
/// database (the backfill after migration 0005), so a look-alike of them is refused too.
#[tokio::test]
async fn existing_accounts_get_their_claims_when_the_database_opens() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    app.add_user("admin", 4).await;
    let db = crate::api_login::db(&app).await;
    sqlx::query("DELETE FROM name_claims")
        .execute(&db)
        .await
        .unwrap();
    let post = |name: &'static str| {
        send(
            &app,
            &admin,
            "POST",
            "/api/v2/users",
            Some(json!({"username": name, "password": PASSWORD})),
        )
    };
    // As an install from before the check: the look-alike gets in.
    assert_eq!(post("\u{430}dmin").await.0, 201);
    sqlx::query("DELETE FROM users WHERE username = $1")
        .bind("\u{430}dmin")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM name_claims")
        .execute(&db)
        .await
        .unwrap();
    // Opening the database again (what an upgrade does) gives every account its claim.
    let mut config = app.core.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    usher::Core::open(config).await.unwrap();
    let (status, b) = post("adm\u{131}n").await;
    assert_eq!(status, 409, "{b}");
    assert!(refused(&b, "conflict", "username").contains("\"admin\""));
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM name_claims WHERE retired_at IS NULL")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(held, 2, "root and admin");
}

/// Two look-alike names created at the same moment: the claim is the primary key, so exactly
/// one wins and the other is a 409.
#[tokio::test]
async fn look_alikes_created_at_once_make_one_account() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    for round in 0..5 {
        let (a, b) = (format!("n{round}o"), format!("n{round}\u{43e}"));
        let create = |name: String| {
            send(
                &app,
                &admin,
                "POST",
                "/api/v2/users",
                Some(json!({"username": name, "password": PASSWORD})),
            )
        };
        let ((s1, b1), (s2, b2)) = tokio::join!(create(a), create(b));
        let mut statuses = [s1, s2];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "{b1} {b2}");
    }
    assert_eq!(app.core.store.list_users().await.unwrap().len(), 6);
}
