//! `usher import organizr` against a real Organizr-shaped install (tests/it/support/organizr.rs):
//! people sign in over HTTP with their Organizr passwords, proxy auth answers by group number and
//! by tab name, settings arrive mapped (secrets decrypted, then encrypted by Usher), a dry run
//! and every refused input write nothing, and a second import behaves as documented.

use std::process::Command;

use serde_json::json;
use usher::import::organizr::{self, ImportError, Options, Sources};

use crate::support::organizr::{
    Organizr, Php, OMBI_FALLBACK_PASSWORD, OVERSEERR_FALLBACK_PASSWORD,
};
use crate::support::{TestApp, PASSWORD};

async fn organizr() -> Organizr {
    let o = Organizr::new();
    o.write().await;
    o
}

/// An install whose people sign in with Organizr's own passwords only (`authType` internal), so
/// that a wrong password is refused without asking plex.tv.
async fn organizr_local() -> Organizr {
    let mut o = Organizr::new();
    o.config
        .insert("authType".into(), Php::Str("internal".into()));
    o.write().await;
    o
}

async fn import(app: &TestApp, o: &Organizr, options: Options) -> Result<String, ImportError> {
    let sources = Sources::from_dir(o.path())?;
    organizr::import(&app.core, &sources, options).await
}

const REAL: Options = Options {
    dry_run: false,
    merge: false,
};

/// Usher as a fresh install has it: no users, no tabs, no settings, the six built-in groups.
async fn assert_nothing_written(app: &TestApp) {
    let store = &app.core.store;
    assert!(
        store.list_users().await.unwrap().is_empty(),
        "users were written"
    );
    assert!(
        store.list_tabs().await.unwrap().is_empty(),
        "tabs were written"
    );
    assert!(
        store.load_settings().await.unwrap().is_empty(),
        "settings were written"
    );
    let groups: Vec<(i64, String)> = store
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    assert_eq!(groups.len(), 6, "groups were written: {groups:?}");
}

async fn status(client: &reqwest::Client, app: &TestApp, path: &str) -> reqwest::Response {
    client.get(app.url(path)).send().await.expect("request")
}

#[tokio::test]
async fn people_sign_in_with_their_organizr_passwords_and_keep_group_and_tabs() {
    let app = TestApp::spawn().await;
    let o = organizr_local().await;
    let report = import(&app, &o, REAL).await.expect("import");
    assert!(report.contains("Alice: group 5 Family"), "{report}");

    // The bcrypt hash is stored as it was, until the first sign-in rehashes it.
    let stored = |name: &'static str| {
        let store = app.core.store.clone();
        async move {
            store
                .find_user_for_login(name)
                .await
                .unwrap()
                .unwrap()
                .1
                .unwrap()
        }
    };
    assert!(stored("alice").await.starts_with("$2y$10$"));

    let alice = app.client();
    let r = app.login(&alice, "alice", "alice in organizr").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert!(
        stored("alice").await.starts_with("$argon2id$"),
        "rehashed at sign-in"
    );
    // Still the same password after the rehash; a wrong one is refused.
    assert_eq!(
        app.login(&app.client(), "Alice", "alice in organizr")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.login(&app.client(), "alice", "wrong password")
            .await
            .status(),
        401
    );

    let admin = app.client();
    assert_eq!(
        app.login(&admin, "admin", "admin organizr pw")
            .await
            .status(),
        200
    );
    let bob = app.client();
    assert_eq!(
        app.login(&bob, "bob", "bob's old password").await.status(),
        200
    );
    // Carol was locked in Organizr and stays locked.
    assert_eq!(
        app.login(&app.client(), "carol", "carol pw 12345")
            .await
            .status(),
        423
    );

    // Proxy auth by group number: Alice is in custom group 5, Bob in 6.
    let r = status(&alice, &app, "/api/v2/auth/5").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-organizr-group"], "5");
    assert_eq!(r.headers()["x-organizr-email"], "Alice@Example.com");
    assert_eq!(status(&alice, &app, "/api/v2/auth/4").await.status(), 401);
    assert_eq!(status(&bob, &app, "/api/v2/auth/5").await.status(), 401);
    assert_eq!(status(&bob, &app, "/api/v2/auth/6").await.status(), 200);
    // …and by tab name: Sonarr is for admins (0), Plex and Requests for groups up to 6.
    for (client, path, expected) in [
        (&admin, "/api/v2/auth/Sonarr", 200),
        (&alice, "/api/v2/auth/Sonarr", 401),
        (&alice, "/api/v2/auth/plex", 200),
        (&bob, "/api/v2/auth/Requests", 200),
        (&bob, "/api/v2/auth?group=Plex", 200),
    ] {
        assert_eq!(
            status(client, &app, path).await.status(),
            expected,
            "{path}"
        );
    }

    // Groups: custom ones with their numbers, names and the default flag.
    let groups = app.core.store.list_groups().await.unwrap();
    let family = groups.iter().find(|g| g.id == 5).expect("group 5");
    assert_eq!((family.name.as_str(), family.is_default), ("Family", true));
    assert!(groups.iter().any(|g| g.id == 6 && g.name == "Friends"));

    // Tabs: Organizr's own pages skipped; two categories, frame or new window, order kept.
    let tabs = app.core.store.list_tabs().await.unwrap();
    let shown: Vec<_> = tabs
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.category.as_deref(),
                t.kind.as_str(),
                t.group_id,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("Plex", Some("Media"), "iframe", 6),
            ("Requests", Some("Media"), "new_window", 6),
            ("Sonarr", Some("Admin tools"), "iframe", 0),
        ]
    );
    assert_eq!(
        tabs[1].icon.as_deref(),
        Some("https://cdn.example.com/ombi.png")
    );
    assert_eq!(
        tabs[0].icon, None,
        "an image inside Organizr's folder cannot be shown"
    );
    // The portal shows Bob his tabs.
    let page = status(&bob, &app, "/").await.text().await.unwrap();
    assert!(
        page.contains("Requests") && !page.contains("Sonarr"),
        "{page}"
    );
}

#[tokio::test]
async fn settings_arrive_mapped_with_secrets_decrypted_and_encrypted_again() {
    let app = TestApp::spawn().await;
    let o = organizr().await;
    let report = import(&app, &o, REAL).await.expect("import");
    let s = app.core.settings();
    for (key, expected) in [
        ("auth_type", json!("local_and_backend")),
        ("auth_backend", json!("plex")),
        ("plex.token", json!("PLEX-ADMIN-TOKEN-xyz")),
        (
            "plex.machine_id",
            json!("1f3b5d7f9a1c3e5a7c9e1b3d5f7a9c1e3b5d7f9a"),
        ),
        ("plex.admin", json!("owner@example.com")),
        ("plex.oauth", json!(true)),
        ("plex.strict_friends", json!(false)),
        ("remember_days", json!(30)),
        (
            "trusted_proxies",
            json!(["127.0.0.0/8", "::1/128", "172.18.0.0/16"]),
        ),
        ("sso.plex.enabled", json!(true)),
        ("sso.tautulli.enabled", json!(true)),
        (
            "sso.tautulli.url",
            json!("http://10.0.0.5:8181/tautulli,http://10.0.0.6:8181"),
        ),
        ("sso.tautulli.min_group", json!(5)),
        ("sso.ombi.enabled", json!(true)),
        ("sso.ombi.url", json!("http://10.0.0.7:3579")),
        ("sso.ombi.token", json!("ombi-api-key-123")),
        ("sso.ombi.fallback_user", json!("guest")),
        ("sso.ombi.fallback_password", json!(OMBI_FALLBACK_PASSWORD)),
        ("sso.overseerr.enabled", json!(false)),
        ("sso.overseerr.url", json!("http://10.0.0.8:5055")),
        ("sso.overseerr.fallback_user", json!("requests@example.com")),
        (
            "sso.overseerr.fallback_password",
            json!(OVERSEERR_FALLBACK_PASSWORD),
        ),
        ("sso.jellyfin.enabled", json!(false)),
    ] {
        assert_eq!(s.get(key), Some(&expected), "{key}");
        assert!(s.is_explicit(key), "{key} was not set");
    }
    // Empty Organizr values leave Usher's defaults.
    assert!(!s.is_explicit("sso.jellyfin.url") && !s.is_explicit("sso.overseerr.token"));
    // Two Tautulli URLs are two instances.
    let instances =
        usher::settings::validate("sso.tautulli.url", s.get("sso.tautulli.url").unwrap());
    assert!(instances.is_ok());
    // Secrets are stored encrypted with Usher's key, never in clear.
    let stored = app.core.store.load_settings().await.unwrap();
    for (key, plain) in [
        ("sso.ombi.fallback_password", OMBI_FALLBACK_PASSWORD),
        (
            "sso.overseerr.fallback_password",
            OVERSEERR_FALLBACK_PASSWORD,
        ),
        ("plex.token", "PLEX-ADMIN-TOKEN-xyz"),
    ] {
        assert!(
            stored[key].contains("enc:v1:") && !stored[key].contains(plain),
            "{key}"
        );
        assert!(
            !report.contains(plain),
            "the report shows the secret of {key}"
        );
    }
    // Every Organizr setting not taken over is named with a reason.
    for line in [
        "ssoPetio: Usher has no Petio single sign-on",
        "organizrHash: Organizr's JWT and encryption key",
        "title: no equivalent in Usher",
        "homepagePlexRecentSettings: Usher has no homepage widgets",
        "authProxyEnabled: Usher has no sign-in by trusted header",
    ] {
        assert!(report.contains(line), "missing {line:?} in\n{report}");
    }
    assert!(report.contains("ombiFallbackPassword → sso.ombi.fallback_password = ********"));
}

#[tokio::test]
async fn a_dry_run_prints_everything_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let o = organizr().await;
    let report = import(
        &app,
        &o,
        Options {
            dry_run: true,
            merge: false,
        },
    )
    .await
    .expect("dry run");
    assert_nothing_written(&app).await;
    for line in [
        "Dry run — nothing was written",
        "4 user(s), 2 group(s) changed or added, 3 tab(s)",
        "admin: group 0 Admin",
        "Alice: group 5 Family",
        "bob: group 6 Friends",
        "5 Family: new, default for new accounts",
        "Plex → https://plex.example.com/web (groups 0-6, iframe, category Media)",
        "Settings: an Organizr page",
        "tautulliURL → sso.tautulli.url = \"http://10.0.0.5:8181/tautulli,http://10.0.0.6:8181\"",
        "plexToken → plex.token = ********",
        "carol\" was locked in Organizr",
        "placeholder.eml",
        "jellyfinURL (sso.jellyfin.url): empty in Organizr: Usher's default stays",
        "title: no equivalent in Usher",
    ] {
        assert!(report.contains(line), "missing {line:?} in\n{report}");
    }
    assert!(!report.contains("PLEX-ADMIN-TOKEN") && !report.contains(OMBI_FALLBACK_PASSWORD));
}

/// Each broken input fails with a message naming the problem, and nothing is written.
#[tokio::test]
async fn broken_inputs_fail_cleanly_with_nothing_written() {
    // A table missing from the database.
    let app = TestApp::spawn().await;
    let o = organizr().await;
    o.sql("DROP TABLE tabs").await;
    let e = import(&app, &o, REAL).await.unwrap_err().to_string();
    assert!(e.contains("no `tabs` table"), "{e}");
    assert_nothing_written(&app).await;

    // A PHP syntax error: the message has the line number.
    let o = organizr().await;
    let php = std::fs::read_to_string(o.config_path()).unwrap();
    let broken = php.replacen("\t'authType' => 'both',", "\t'authType' => 'both'", 1);
    let line = broken
        .lines()
        .position(|l| l.contains("'authType'"))
        .unwrap()
        + 2;
    std::fs::write(o.config_path(), broken).unwrap();
    let e = import(&app, &o, REAL).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!("config.php: line {line}: expected `,`")),
        "{e}"
    );
    assert_nothing_written(&app).await;

    // A hash key that is not the one the passwords were encrypted with.
    let o = organizr().await;
    let php = std::fs::read_to_string(o.config_path()).unwrap();
    let other = php.replace(
        "'organizrHash' => 'MyOrganizrHashKey-2019'",
        "'organizrHash' => 'SomeOtherHashKey-2020'",
    );
    std::fs::write(o.config_path(), other).unwrap();
    let e = import(&app, &o, REAL).await.unwrap_err().to_string();
    assert!(
        e.contains("setting ombiFallbackPassword") && e.contains("organizrHash"),
        "{e}"
    );
    assert_nothing_written(&app).await;

    // Usernames Usher refuses or that collide ignoring case: every one named, none renamed.
    let o = organizr().await;
    o.sql("INSERT INTO users (username, password, email, group_id, locked) VALUES \
           ('ALICE', '$2y$10$abcdefghijklmnopqrstuu1234567890123456789012345678901', 'a2@example.com', 4, 0), \
           ('dave@home', '$2y$10$abcdefghijklmnopqrstuu1234567890123456789012345678901', 'd@example.com', 4, 0)")
        .await;
    let e = import(&app, &o, REAL).await.unwrap_err().to_string();
    assert!(
        e.contains("users \"Alice\" and \"ALICE\" differ only in case"),
        "{e}"
    );
    assert!(
        e.contains("user \"dave@home\"") && e.contains("Usher refuses this name"),
        "{e}"
    );
    assert_nothing_written(&app).await;
}

/// The database refusing the last row of an import (after a group and a user went in) rolls
/// back all of it: one transaction.
#[tokio::test]
async fn a_row_refused_while_writing_leaves_nothing() {
    use usher::domain::TabKind;
    use usher::store::{Actor, ImportBatch, ImportGroup, ImportUser, TabFields};
    let app = TestApp::spawn().await;
    let tab = |name: &str| TabFields {
        name: name.into(),
        url: "/sonarr/".into(),
        icon: None,
        group_id: 0,
        group_id_max: 0,
        kind: TabKind::Iframe,
        category: None,
        enabled: true,
    };
    // An admin adds a tab between the import's check and its write.
    app.core
        .store
        .create_tab(&tab("sonarr"), &Actor::cli())
        .await
        .unwrap();
    let batch = ImportBatch {
        require_empty: true,
        groups: vec![ImportGroup {
            id: 7,
            name: "Neighbours".into(),
            create: true,
        }],
        default_group: Some(7),
        users: vec![ImportUser {
            username: "zed".into(),
            email: None,
            password_hash: None,
            group_id: 7,
            locked: false,
            image: None,
            plex_token: None,
        }],
        tabs: vec![tab("SONARR")],
        settings: vec![("remember_days", "3".into())],
    };
    let e = app
        .core
        .store
        .write_import(&batch, &Actor::cli())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("tab SONARR:"), "{e}");
    let store = &app.core.store;
    assert!(store.list_users().await.unwrap().is_empty());
    assert!(!store
        .list_groups()
        .await
        .unwrap()
        .iter()
        .any(|g| g.id == 7 || (g.is_default && g.id != 4)));
    assert!(store.load_settings().await.unwrap().is_empty());
    assert_eq!(store.list_tabs().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_second_import_is_refused_unless_merge_and_existing_users_win() {
    let app = TestApp::spawn().await;
    // Usher already has an "ALICE" with her own password.
    app.add_user("ALICE", 4).await;
    let o = organizr_local().await;
    let e = import(&app, &o, REAL).await.unwrap_err().to_string();
    assert!(
        e.contains("Usher already has 1 user(s)") && e.contains("--merge"),
        "{e}"
    );
    assert_eq!(app.core.store.list_users().await.unwrap().len(), 1);

    let merge = Options {
        dry_run: false,
        merge: true,
    };
    let report = import(&app, &o, merge).await.expect("merge");
    assert!(
        report.contains("Users skipped:\n  Alice: Usher already has a user"),
        "{report}"
    );
    assert_eq!(app.core.store.list_users().await.unwrap().len(), 4);
    // Usher's Alice keeps her Usher password and group.
    assert_eq!(
        app.login(&app.client(), "alice", PASSWORD).await.status(),
        200
    );
    assert_eq!(
        app.login(&app.client(), "alice", "alice in organizr")
            .await
            .status(),
        401
    );
    assert_eq!(app.core.user_by_name("alice").await.unwrap().group_id, 4);
    assert_eq!(
        app.login(&app.client(), "bob", "bob's old password")
            .await
            .status(),
        200
    );

    // Again with --merge: everyone and every tab is already there, settings are Usher's now.
    let report = import(&app, &o, merge).await.expect("second merge");
    assert!(
        report.contains("0 user(s), 0 group(s) changed or added, 0 tab(s), 0 setting(s)"),
        "{report}"
    );
    assert!(
        report.contains("Sonarr: Usher already has a tab with this name"),
        "{report}"
    );
    assert!(
        report.contains("plexToken (plex.token): set in Usher already"),
        "{report}"
    );
    assert_eq!(app.core.store.list_users().await.unwrap().len(), 4);
    assert_eq!(app.core.store.list_tabs().await.unwrap().len(), 3);
}

/// The command as a person types it, against the data directory of a stopped server.
#[tokio::test]
async fn the_command_line_imports_from_the_data_folder() {
    let o = organizr().await;
    let data = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["import", "organizr", "--from", o.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend(["--data-dir", data.path().to_str().unwrap()]);
        Command::new(env!("CARGO_BIN_EXE_usher"))
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .expect("usher runs")
    };
    let dry = run(&["--dry-run"]);
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        out.contains("Dry run") && out.contains(&o.db_path().display().to_string()),
        "{out}"
    );
    let real = run(&[]);
    let out = String::from_utf8_lossy(&real.stdout);
    assert!(
        real.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&real.stderr)
    );
    assert!(out.starts_with("Imported from Organizr"), "{out}");
    let again = run(&[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--merge"));

    // The two files named directly, into another data directory.
    let other = tempfile::tempdir().unwrap();
    let files = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["import", "organizr", "--db"])
        .arg(o.db_path())
        .arg("--config")
        .arg(o.config_path())
        .arg("--data-dir")
        .arg(other.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("usher runs");
    let out = String::from_utf8_lossy(&files.stdout);
    assert!(
        files.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&files.stderr)
    );
    assert!(out.contains("Alice: group 5 Family"), "{out}");
}

/// The web interface points a new install at the import: on the first-run page, and in the
/// administrator's getting-started list until there are tabs.
#[tokio::test]
async fn an_empty_install_hints_at_the_import() {
    let app = TestApp::spawn().await;
    let page = status(&app.client(), &app, "/").await.text().await.unwrap();
    assert!(
        page.contains("Coming from Organizr? Run usher import organizr --from"),
        "{page}"
    );

    let admin = app.signed_in("root", 0).await;
    let page = status(&admin, &app, "/").await.text().await.unwrap();
    assert!(page.contains(r#"<li id="from-organizr">Coming from Organizr? <code>usher import organizr --from …</code>"#), "{page}");

    let o = organizr().await;
    import(
        &app,
        &o,
        Options {
            dry_run: false,
            merge: true,
        },
    )
    .await
    .expect("merge");
    let page = status(&admin, &app, "/").await.text().await.unwrap();
    assert!(
        !page.contains("from-organizr") && page.contains("Sonarr"),
        "{page}"
    );
}

/// `--from` says which files it looked for when it cannot find Organizr's.
#[tokio::test]
async fn from_dir_names_the_files_it_looked_for() {
    let empty = tempfile::tempdir().unwrap();
    let e = Sources::from_dir(empty.path()).unwrap_err().to_string();
    assert!(
        e.contains("no Organizr config.php") && e.contains("config/config.php"),
        "{e}"
    );

    let o = organizr().await;
    std::fs::remove_file(o.db_path()).unwrap();
    let e = Sources::from_dir(o.path()).unwrap_err().to_string();
    assert!(e.contains("orgdb.db was not found"), "{e}");
    assert!(
        e.contains("/config/www/organizr/db/orgdb.db") && e.contains("--db FILE"),
        "{e}"
    );
}
