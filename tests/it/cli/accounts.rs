//! `usher user …` and `usher settings …` against the data directory of a running server.

use super::*;

#[tokio::test]
async fn user_commands_act_on_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let server = &Server::start(serve(&data, "127.0.0.1:0", &[])).await;

    let out = ok(
        &[
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.com",
            "--group",
            "4",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        out.contains("added alice") && out.contains("group 4 User"),
        "{out}"
    );
    assert!(
        !out.contains(PASSWORD),
        "a given password is not echoed: {out}"
    );
    let alice = &browser();
    assert_eq!(
        login(server, alice, "alice", PASSWORD).await.status(),
        200,
        "signs in at once"
    );
    assert_eq!(status(server, alice, "/api/v2/auth/4").await, 200);

    // Store flags may also come before the action.
    let out = ok(
        &[
            "user",
            "--data-dir",
            d,
            "add",
            "bob",
            "--email",
            "bob@example.com",
        ],
        None,
    );
    let generated = after(&out, "password: ", |c| !c.is_whitespace())
        .unwrap_or_else(|| panic!("no password in {out}"));
    assert!(generated.len() >= 12, "{generated}");
    assert_eq!(
        login(server, &browser(), "bob", &generated).await.status(),
        200
    );

    let list = ok(&["user", "list", "--data-dir", d], None);
    let row = |name: &str| {
        list.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .map(str::to_string)
    };
    let a = row("alice").unwrap_or_else(|| panic!("{list}"));
    assert!(
        a.contains("alice@example.com") && a.contains("4 User") && a.ends_with("no"),
        "{a}"
    );
    assert!(
        row("bob").is_some_and(|b| b.contains("bob@example.com")),
        "{list}"
    );

    let add = |name: &str, email: &str, extra: &[&str]| {
        let mut args = vec![
            "user",
            "add",
            name,
            "--email",
            email,
            "--password-stdin",
            "--data-dir",
            d,
        ];
        args.extend_from_slice(extra);
        usher(&args)
    };
    let pw = Some("correct horse battery\n");
    fails(
        add("ALICE", "other@example.com", &[]),
        pw,
        &["cannot add ALICE", "username is already taken"],
    );
    fails(
        add("carol", "Alice@Example.com", &[]),
        pw,
        &["cannot add carol", "email is already taken"],
    );
    fails(
        add("carol", "carol@example.com", &["--group", "77"]),
        pw,
        &["group 77", "does not exist"],
    );
    fails(
        add("carol", "carol@example.com", &[]),
        Some("short\n"),
        &["password", "at least 8"],
    );
    fails(
        add("carol", "carol@example.com", &[]),
        Some(""),
        &["no password on standard input"],
    );
    fails(
        add("carol", "not-an-email", &[]),
        pw,
        &["email", "name@host"],
    );
    assert!(
        !ok(&["user", "list", "--data-dir", d], None).contains("carol"),
        "nothing half-created"
    );
    for action in ["lock", "unlock", "delete"] {
        fails(
            usher(&["user", action, "nobody", "--data-dir", d]),
            None,
            &["no user named nobody"],
        );
    }
    fails(
        usher(&[
            "user",
            "passwd",
            "nobody",
            "--password-stdin",
            "--data-dir",
            d,
        ]),
        pw,
        &["no user named nobody"],
    );
    fails(
        usher(&[
            "user",
            "passwd",
            "alice",
            "--password-stdin",
            "--data-dir",
            d,
        ]),
        Some("short\n"),
        &["alice", "at least 8"],
    );

    // A new password works at once and signs alice out everywhere.
    let new_pw = "a much better passphrase";
    ok(
        &[
            "user",
            "passwd",
            "alice",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{new_pw}\n")),
    );
    eventually("passwd ends alice's session", || async move {
        status(server, alice, "/api/v2/auth/4").await == 401
    })
    .await;
    assert_eq!(
        login(server, &browser(), "alice", PASSWORD).await.status(),
        401
    );
    assert_eq!(login(server, alice, "alice", new_pw).await.status(), 200);
    assert_eq!(status(server, alice, "/api/v2/auth/4").await, 200);

    // Lock ends the live (cached) session within seconds; unlock lets her back in.
    let out = ok(&["user", "lock", "alice", "--data-dir", d], None);
    assert!(out.contains("alice locked"), "{out}");
    eventually("lock refuses alice's session", || async move {
        status(server, alice, "/api/v2/auth/4").await == 401
    })
    .await;
    assert_eq!(
        login(server, &browser(), "alice", new_pw).await.status(),
        423
    );
    assert!(row_of(&ok(&["user", "list", "--data-dir", d], None), "alice").ends_with("yes"));
    ok(&["user", "unlock", "alice", "--data-dir", d], None);
    assert_eq!(
        login(server, &browser(), "alice", new_pw).await.status(),
        200
    );

    let bob = &browser();
    assert_eq!(login(server, bob, "bob", &generated).await.status(), 200);
    assert!(ok(&["user", "delete", "bob", "--data-dir", d], None).contains("bob deleted"));
    eventually("delete ends bob's session", || async move {
        status(server, bob, "/api/v2/auth/998").await == 401
    })
    .await;
    assert_eq!(
        login(server, &browser(), "bob", &generated).await.status(),
        401
    );
    assert!(row_of(&ok(&["user", "list", "--data-dir", d], None), "bob").is_empty());
    fails(
        usher(&["user", "delete", "bob", "--data-dir", d]),
        None,
        &["no user named bob"],
    );
}

/// The `user list` row of `name` ("" when absent).
fn row_of(list: &str, name: &str) -> String {
    list.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn settings_commands_reach_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let server = &Server::start(serve(&data, "127.0.0.1:0", &[])).await;
    ok(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "carol@example.com",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(PASSWORD),
    );
    let set = |key: &str, value: &str| run(&["settings", "set", key, value, "--data-dir", d]);
    let get = |key: &str| {
        ok(&["settings", "get", key, "--data-dir", d], None)
            .trim()
            .to_string()
    };

    let list = ok(&["settings", "list", "--data-dir", d], None);
    for line in [
        "cookie_name = \"usher_session\"",
        "remember_days = 7",
        "cookie_domain = null",
        "allowed_redirect_hosts = []",
    ] {
        assert!(list.lines().any(|l| l == line), "no {line:?} in:\n{list}");
    }
    assert_eq!(get("remember_days"), "7");

    // JSON values, and plain text taken as a string.
    assert_eq!(
        set("remember_days", "30").stdout.trim(),
        "remember_days = 30"
    );
    assert_eq!(get("remember_days"), "30");
    assert!(set("allowed_redirect_hosts", r#"["tv.example.com"]"#).success);
    assert_eq!(get("allowed_redirect_hosts"), r#"["tv.example.com"]"#);
    assert!(set("public_url", "https://usher.example.com").success);
    assert_eq!(get("public_url"), r#""https://usher.example.com""#);

    // Refusals name the key and the reason, and change nothing.
    let r = set("cookie_domain", "duckdns.org");
    assert!(
        !r.success && r.stderr.contains("cookie_domain") && r.stderr.contains("public suffix"),
        "{r:?}"
    );
    assert_eq!(get("cookie_domain"), "null");
    let r = set("remember_days", "1000");
    assert!(
        !r.success && r.stderr.contains("remember_days") && r.stderr.contains("1 to 365"),
        "{r:?}"
    );
    assert_eq!(get("remember_days"), "30");
    let r = set("no_such_key", "1");
    assert!(!r.success && r.stderr.contains("no_such_key"), "{r:?}");
    fails(
        usher(&["settings", "get", "unknown", "--data-dir", d]),
        None,
        &["unknown setting `unknown`", "usher settings list"],
    );

    // The running server picks changes up from the database within seconds.
    assert!(set("cookie_name", r#""my_cookie""#).success);
    assert_eq!(get("cookie_name"), r#""my_cookie""#);
    let cookie = || async move {
        let r = login(server, &browser(), "carol", PASSWORD).await;
        assert_eq!(r.status(), 200);
        r.headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    eventually("the login cookie is named my_cookie", || async {
        cookie().await.starts_with("my_cookie=")
    })
    .await;
    assert!(
        cookie().await.contains("Secure"),
        "https public_url marks cookies Secure"
    );
    assert_eq!(set("public_url", "null").stdout.trim(), "public_url = null");
    eventually("public_url reset drops Secure", || async {
        !cookie().await.contains("Secure")
    })
    .await;
}

#[tokio::test]
async fn plex_settings_with_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let server = &Server::start(serve(&data, "127.0.0.1:0", &[])).await;
    let set = |key: &str, value: &str| run(&["settings", "set", key, value, "--data-dir", d]);
    let get = |key: &str| {
        ok(&["settings", "get", key, "--data-dir", d], None)
            .trim()
            .to_string()
    };
    for (key, value, shown) in [
        ("auth_type", "local_and_backend", r#""local_and_backend""#),
        ("auth_backend", "plex", r#""plex""#),
        ("plex.token", "CLITOKEN0123456789", r#""********""#),
        (
            "plex.machine_id",
            "9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d",
            r#""9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d""#,
        ),
        ("plex.admin", "admin@example.com", r#""admin@example.com""#),
        ("plex.oauth", "true", "true"),
        ("plex.strict_friends", "false", "false"),
        ("plex.default_group", "3", "3"),
        ("plex.friends_refresh_seconds", "120", "120"),
        ("plex.timeout_seconds", "5", "5"),
        (
            "plex.tv_url",
            "http://127.0.0.1:9",
            r#""http://127.0.0.1:9""#,
        ),
        (
            "plex.auth_url",
            "http://127.0.0.1:9/auth",
            r#""http://127.0.0.1:9/auth""#,
        ),
    ] {
        let r = set(key, value);
        assert!(r.success, "{key}: {r:?}");
        assert_eq!(r.stdout.trim(), format!("{key} = {shown}"), "{key}");
        assert_eq!(get(key), shown, "{key}");
        assert!(!r.stdout.contains("CLITOKEN") && !r.stderr.contains("CLITOKEN"));
    }
    let list = ok(&["settings", "list", "--data-dir", d], None);
    assert!(
        list.contains("plex.token = \"********\"") && !list.contains("CLITOKEN"),
        "{list}"
    );
    let r = set("auth_type", "ldap");
    assert!(!r.success && r.stderr.contains("auth_type"), "{r:?}");
    // The running server offers "Sign in with Plex" once it has read the new settings.
    eventually("the login page shows the Plex button", || async {
        let page = browser()
            .get(format!("http://{}/login", server.addr))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        page.contains("Sign in with Plex")
    })
    .await;
    let log = read(&server.log);
    assert!(
        !log.contains("CLITOKEN"),
        "the token is never logged:\n{log}"
    );
    for file in ["usher.db", "usher.db-wal"] {
        let bytes = std::fs::read(data.join(file)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("CLITOKEN"),
            "{file}: stored encrypted"
        );
    }
}

/// `usher user add` refuses names that do not show or look like another (held or retired)
/// name; a retired name is given again only with `--reuse-retired-name`.
#[test]
fn look_alike_invisible_and_retired_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let d = d.to_str().unwrap();
    let pw = Some("correct horse battery\n");
    let add = |name: &str, email: &str, extra: &[&str]| {
        let mut args = vec!["user", "add", name, "--email", email, "--password-stdin"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--data-dir", d]);
        usher(&args)
    };
    let added = |cmd: Command| {
        let r = run_with(cmd, pw);
        assert!(r.success, "{r:?}");
        r.stdout
    };
    added(add("admin", "admin@example.com", &[]));
    added(add("sam", "sam@example.com", &[]));
    for invisible in [
        "admin\u{200b}",
        "ad\u{ad}min",
        "\u{feff}root",
        "root\u{202e}",
    ] {
        fails(
            add(invisible, "x@example.com", &[]),
            pw,
            &["cannot add", "username", "invisible"],
        );
    }
    // The long s is "s" once normalised (NFKC), so that name is simply taken.
    for (look_alike, why) in [
        ("\u{430}dmin", "looks like the existing account"),
        ("adm\u{131}n", "looks like the existing account"),
        ("\u{17f}am", "already taken"),
    ] {
        fails(
            add(look_alike, "y@example.com", &[]),
            pw,
            &["cannot add", why],
        );
    }
    fails(
        add("eve", "\u{430}dmin@example.com", &[]),
        pw,
        &["email", "looks like the address of the existing account"],
    );

    ok(&["user", "delete", "sam", "--data-dir", d], None);
    fails(
        add("Sam", "sam2@example.com", &[]),
        pw,
        &["deleted or renamed", "--reuse-retired-name"],
    );
    let out = added(add("Sam", "sam2@example.com", &["--reuse-retired-name"]));
    assert!(out.contains("added Sam"), "{out}");
    let list = ok(&["user", "list", "--data-dir", d], None);
    assert!(
        !list.contains('\u{430}') && !list.contains('\u{200b}') && !list.contains('\u{131}'),
        "{list}"
    );
}

#[tokio::test]
async fn reset_two_factor_lets_a_person_in_with_the_password_alone() {
    use crate::two_factor::{early_in_a_step, enrol_at};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let server = &Server::start(serve(&data, "127.0.0.1:0", &[])).await;
    ok(
        &[
            "user",
            "add",
            "tia",
            "--email",
            "tia@example.com",
            "--group",
            "4",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    let tia = &browser();
    assert_eq!(login(server, tia, "tia", PASSWORD).await.status(), 200);
    enrol_at(&server.url(""), tia, early_in_a_step().await).await;
    assert_eq!(
        login(server, &browser(), "tia", PASSWORD).await.status(),
        422
    );
    let out = ok(&["user", "reset-two-factor", "tia", "--data-dir", d], None);
    assert!(
        out.contains("two-factor sign-in of tia turned off"),
        "{out}"
    );
    assert_eq!(
        login(server, &browser(), "tia", PASSWORD).await.status(),
        200
    );
    fails(
        usher(&["user", "reset-two-factor", "nobody", "--data-dir", d]),
        None,
        &["no user named nobody"],
    );
}
