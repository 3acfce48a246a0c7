//! `usher db copy` and `usher backup`: a whole install moved SQLite → PostgreSQL → SQLite and
//! served again with the same key (old password, old session cookie, new ids after the old
//! ones); a target that holds data refused untouched; a snapshot of a server that is writing;
//! and the guard that every table the migrations create is one the copy knows.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sqlx::Connection;
use usher::auth::accounts::Acting;
use usher::auth::tabs::TabInput;
use usher::config::sqlite_url;
use usher::store::copy::TABLES;
use usher::store::Store;

use super::*;
use crate::api_login::cookie_named;
use crate::session_cookies::proxy_auth_at;
use crate::support::{PgDatabase, TestApp};

const PLEX_TOKEN: &str = "plex-token-kept-encrypted";

/// Usher on SQLite in its temp data directory, whatever USHER_TEST_BACKEND says.
async fn sqlite_app() -> TestApp {
    TestApp::spawn_with(|c| c.database_url = sqlite_url(&c.data_dir.join("usher.db"))).await
}

/// Usher on `url` with the key file of `key_dir` (the one the data was written with).
async fn app_on(url: &str, key_dir: &Path) -> TestApp {
    let (url, key_dir) = (url.to_string(), key_dir.to_path_buf());
    TestApp::spawn_with(move |c| {
        c.data_dir = key_dir;
        c.database_url = url;
    })
    .await
}

/// An install with rows in the tables a person cares about: two accounts, a renamed group, a
/// tab, an encrypted setting and a signed-in session; returns alice's session cookie
/// (`NAME=VALUE`).
async fn populate(app: &TestApp) -> String {
    app.add_user("alice", 0).await;
    app.add_user("bob", 4).await;
    let acting = Acting::cli();
    let actor = usher::store::Actor::cli();
    app.core.rename_group(3, "Friends", &actor).await.unwrap();
    app.core
        .create_tab(
            TabInput {
                name: Some("Movies".into()),
                url: Some("https://movies.example.com".into()),
                group_id: Some(4),
                ..Default::default()
            },
            &actor,
        )
        .await
        .unwrap();
    let mut patch = serde_json::Map::new();
    patch.insert("plex.token".into(), json!(PLEX_TOKEN));
    app.core
        .update_settings(&patch, &acting)
        .await
        .unwrap()
        .unwrap();
    let r = app.login(&app.client(), "alice", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let set_cookie = cookie_named(&r, &app.core.settings().cookie_name);
    set_cookie.split(';').next().unwrap().to_string()
}

/// The copy and the original hold the same rows, and something in each table that matters.
async fn assert_same_rows(a: &Store, b: &Store) {
    let (ca, cb) = (a.row_counts().await.unwrap(), b.row_counts().await.unwrap());
    assert_eq!(ca, cb, "row counts differ");
    for (table, rows) in &cb.0 {
        if ["users", "sessions", "tabs", "settings", "meta", "groups"].contains(table) {
            assert!(*rows > 0, "nothing in {table}: {cb}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_install_moves_to_postgresql_and_back_and_serves_with_the_same_key() {
    let source = sqlite_app().await;
    let cookie = populate(&source).await;
    assert_eq!(
        proxy_auth_at(&source, "/api/v2/auth/Movies", &cookie).await,
        (200, Some("alice".into()))
    );
    let dir = source.data_dir.path().to_path_buf();
    let dir_arg = dir.display().to_string();

    // SQLite → a fresh PostgreSQL database.
    let pg = PgDatabase::create().await;
    let out = ok(
        &["db", "copy", "--data-dir", &dir_arg, "--to", &pg.url],
        None,
    );
    assert!(out.contains("users"), "{out}");
    let on_pg = app_on(&pg.url, &dir).await;
    // Copying again into the now full database is refused and changes nothing.
    let before = on_pg.core.store.row_counts().await.unwrap();
    fails(
        usher(&["db", "copy", "--data-dir", &dir_arg, "--to", &pg.url]),
        None,
        &["already holds data", "users: 2", "nothing was written"],
    );
    assert_eq!(on_pg.core.store.row_counts().await.unwrap(), before);
    assert_same_rows(&source.core.store, &on_pg.core.store).await;
    // The old session cookie passes proxy-auth there; the old password signs in.
    assert_eq!(
        proxy_auth_at(&on_pg, "/api/v2/auth/Movies", &cookie).await,
        (200, Some("alice".into()))
    );
    assert_eq!(
        proxy_auth_at(&on_pg, "/api/v2/auth/Movies", "usher_session=nope")
            .await
            .0,
        401
    );
    let web = on_pg.client();
    assert_eq!(on_pg.login(&web, "bob", PASSWORD).await.status(), 200);
    assert_eq!(on_pg.core.group(3).await.unwrap().name, "Friends");
    // The encrypted setting reads back with the same key.
    assert_eq!(
        on_pg.core.settings().get("plex.token"),
        Some(&json!(PLEX_TOKEN))
    );
    // Ids continue after the copied ones (PostgreSQL sequences advanced).
    let carol = on_pg.add_user("carol", 4).await;
    let old_max = source.core.store.list_users().await.unwrap();
    assert!(
        old_max.iter().all(|u| u.id < carol.id),
        "carol got an old id"
    );

    // PostgreSQL → a new SQLite file, and a snapshot of PostgreSQL.
    let back = tempfile::tempdir().unwrap();
    let back_url = sqlite_url(&back.path().join("usher.db"));
    ok(
        &["db", "copy", "--database-url", &pg.url, "--to", &back_url],
        None,
    );
    let snapshot = back.path().join("pg-snapshot.db");
    let out = ok(
        &[
            "backup",
            "--database-url",
            &pg.url,
            &snapshot.display().to_string(),
        ],
        None,
    );
    assert!(out.contains("users"), "{out}");
    for url in [back_url, sqlite_url(&snapshot)] {
        let again = app_on(&url, &dir).await;
        assert_same_rows(&on_pg.core.store, &again.core.store).await;
        let web = again.client();
        assert_eq!(again.login(&web, "carol", PASSWORD).await.status(), 200);
        assert_eq!(
            proxy_auth_at(&again, "/api/v2/auth/Movies", &cookie).await,
            (200, Some("alice".into()))
        );
        again.stop().await;
    }
    on_pg.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_holds_data_is_refused_and_left_as_it_was() {
    let source = sqlite_app().await;
    populate(&source).await;
    let target = sqlite_app().await;
    target.add_user("dave", 4).await;
    let before = target.core.store.row_counts().await.unwrap();
    let to = sqlite_url(&target.data_dir.path().join("usher.db"));
    let dir = source.data_dir.path().display().to_string();
    fails(
        usher(&["db", "copy", "--data-dir", &dir, "--to", &to]),
        None,
        &["already holds data", "users: 1", "nothing was written"],
    );
    assert_eq!(target.core.store.row_counts().await.unwrap(), before);
    // Its built-in groups, which a fresh target's copy replaces, are untouched too.
    assert_eq!(target.core.group(3).await.unwrap().name, "Power User");
    let web = target.client();
    assert_eq!(target.login(&web, "alice", PASSWORD).await.status(), 401);
    assert_eq!(target.login(&web, "dave", PASSWORD).await.status(), 200);

    // A data directory without a database is a mistake, not an empty install to copy.
    let empty = tempfile::tempdir().unwrap();
    let new_file = empty.path().join("copy.db");
    fails(
        usher(&[
            "db",
            "copy",
            "--data-dir",
            &empty.path().display().to_string(),
            "--to",
            &sqlite_url(&new_file),
        ]),
        None,
        &["no Usher database at", "--data-dir"],
    );
    assert!(!new_file.exists(), "a target was created for nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_the_server_writes_restores_into_a_fresh_data_dir() {
    let source = sqlite_app().await;
    source.add_user("alice", 0).await;
    // Accounts keep being created while the snapshot is taken.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (core, writing) = (source.core.clone(), writing.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while writing.load(Ordering::Relaxed) {
                let user = usher::auth::accounts::CreateUser {
                    username: format!("writer{n}"),
                    password: Some(PASSWORD.into()),
                    ..Default::default()
                };
                core.create_user(user, &Acting::cli()).await.unwrap();
                n += 1;
            }
            n
        })
    };
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("usher-backup.db");
    let (dir, file_arg) = (
        source.data_dir.path().display().to_string(),
        file.display().to_string(),
    );
    let args = ["backup", "--data-dir", &dir, &file_arg].map(String::from);
    let backup = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .unwrap();
    writing.store(false, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(backup.success, "{backup:?}");
    assert!(backup.stdout.contains("users"), "{backup:?}");
    assert!(written > 0, "nothing was written during the backup");
    assert_eq!(mode(&file), 0o600, "the snapshot holds password hashes");
    // One point in time: each account came with its name claim and its audit entry.
    let snapshot_url = format!("sqlite://{}?mode=ro", file.display());
    let mut snapshot = sqlx::SqliteConnection::connect(&snapshot_url)
        .await
        .unwrap();
    let mut rows = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM users",
        "SELECT COUNT(*) FROM name_claims",
        "SELECT COUNT(*) FROM audit_log WHERE action = 'user.create'",
    ] {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut snapshot)
            .await
            .unwrap();
        rows.push(n);
    }
    assert!((1..=written + 1).contains(&rows[0]), "{rows:?}");
    assert_eq!(rows, [rows[0]; 3], "users, name claims, audited creations");
    // A second backup never overwrites the first.
    fails(
        usher(&["backup", "--data-dir", &dir, &file_arg]),
        None,
        &["already exists"],
    );

    // Restore: the file as usher.db in a fresh data directory, with the key.
    let restored = tempfile::tempdir().unwrap();
    fs::copy(&file, restored.path().join("usher.db")).unwrap();
    fs::copy(
        source.data_dir.path().join("secret.key"),
        restored.path().join("secret.key"),
    )
    .unwrap();
    let again = app_on(
        &sqlite_url(&restored.path().join("usher.db")),
        restored.path(),
    )
    .await;
    let web = again.client();
    assert_eq!(again.login(&web, "alice", PASSWORD).await.status(), 200);
    let users = again.core.store.list_users().await.unwrap();
    assert!(users.len() <= written as usize + 1, "more than was written");
    again.stop().await;
}

/// The tables a fresh database has after every migration.
async fn migrated_tables(url: &str) -> BTreeSet<String> {
    let store = Store::connect(url).await.unwrap();
    let tables = store.schema_tables().await.unwrap();
    store.close().await;
    tables
}

/// The guard for new migrations: a table the copy does not list would be left behind.
#[tokio::test]
async fn every_table_the_migrations_create_is_copied() {
    let known: BTreeSet<String> = TABLES.iter().map(|t| t.name.to_string()).collect();
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDatabase::create().await;
    for url in [sqlite_url(&dir.path().join("usher.db")), pg.url.clone()] {
        assert_eq!(
            migrated_tables(&url).await,
            known,
            "add each new table to TABLES in src/store/copy.rs (after the tables it references)"
        );
    }
    // Rows go in TABLES order: each table after every table it references.
    let mut db = sqlx::SqliteConnection::connect(&sqlite_url(&dir.path().join("usher.db")))
        .await
        .unwrap();
    for (i, table) in TABLES.iter().enumerate() {
        let parents: Vec<String> =
            sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(table.name)
                .fetch_all(&mut db)
                .await
                .unwrap();
        for parent in parents {
            let at = TABLES.iter().position(|t| t.name == parent).unwrap();
            assert!(
                at < i || parent == table.name,
                "{} references {parent}: list it after {parent} in TABLES",
                table.name
            );
        }
    }
}
