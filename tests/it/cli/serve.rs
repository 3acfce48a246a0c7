//! `usher serve`: first run, the setup link, health checks, signals and its log lines.

use super::*;

#[tokio::test]
async fn first_run_serve_prints_a_setup_link_and_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = Server::start(serve(&data, &listen, &[])).await;
    assert_eq!(server.addr.to_string(), listen);
    let log = server.log();
    assert!(
        !log.trim_start().starts_with('{'),
        "text logs by default: {log}"
    );
    assert!(
        log.contains(&format!("Usher listening on http://{listen}")),
        "{log}"
    );

    // The one-time link in the log and the token file agree; both key files are private.
    let link = format!("http://{listen}/setup?token=");
    let token = after(&log, &link, |c| {
        c.is_ascii_alphanumeric() || "-_".contains(c)
    })
    .unwrap_or_else(|| panic!("no setup link {link}… in:\n{log}"));
    assert!(token.len() >= 32, "{token}");
    let token_file = data.join("setup-token");
    assert_eq!(read(&token_file).trim(), token);
    assert_eq!(mode(&token_file), 0o600);
    let key_file = data.join("secret.key");
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(read(&key_file).trim().len(), 64, "a 256-bit key in hex");

    // healthcheck: by URL, and from the configuration (USHER_LISTEN) without one.
    let health = format!("http://{listen}/healthz");
    ok(&["healthcheck", "--url", &health], None);
    let mut from_env = usher(&["healthcheck"]);
    from_env.env("USHER_LISTEN", &listen);
    assert!(run_with(from_env, None).success);

    // /setup wants the token; the wrong one creates nobody.
    let web = browser();
    assert_eq!(status(&server, &web, "/setup").await, 403);
    assert_eq!(
        status(&server, &web, &format!("/setup?token={token}")).await,
        200
    );
    let form = |t: &str| {
        [
            ("token", t.to_string()),
            ("username", "root".into()),
            ("email", "root@example.com".into()),
            ("password", PASSWORD.into()),
        ]
    };
    let r = web
        .post(server.url("/setup"))
        .form(&form("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!ok(
        &["user", "list", "--data-dir", data.to_str().unwrap()],
        None
    )
    .contains("root"));
    assert!(token_file.exists());

    let r = web
        .post(server.url("/setup"))
        .form(&form(&token))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "setup answered {}", r.status());
    assert!(
        !token_file.exists(),
        "the setup token is retired once the admin exists"
    );
    let users = ok(
        &["user", "list", "--data-dir", data.to_str().unwrap()],
        None,
    );
    let root = users
        .lines()
        .find(|l| l.contains("root"))
        .expect("root listed");
    assert!(
        root.contains("root@example.com") && root.contains("0 Admin"),
        "{users}"
    );
    assert_eq!(
        status(&server, &web, &format!("/setup?token={token}")).await,
        404
    );
    assert_eq!(
        login(&server, &browser(), "root", PASSWORD).await.status(),
        200
    );

    assert!(
        server.terminate().await,
        "SIGTERM exits 0:\n{}",
        server.log()
    );
    assert!(server.log().contains("shutting down"));
    let down = fails(
        usher(&["healthcheck", "--url", &health]),
        None,
        &[&health, "did not answer"],
    );
    assert!(!down.is_empty());

    // Second start: an admin exists, so no setup link and no token file.
    let again = Server::start(serve(&data, "127.0.0.1:0", &[])).await;
    assert!(!again.log().contains("setup?token="), "{}", again.log());
    assert!(!token_file.exists());
}

#[tokio::test]
async fn json_logs_record_each_login_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let mut server = Server::start(serve(&data, "127.0.0.1:0", &["--log-format", "json"])).await;
    ok(
        &[
            "user",
            "add",
            "dave",
            "--email",
            "dave@example.com",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some(PASSWORD),
    );

    let wrong = "wrong-password-4711";
    let r = browser()
        .post(server.url("/api/v2/login"))
        .header("X-Forwarded-For", "203.0.113.7")
        .json(&json!({"username": "dave", "password": wrong}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        login(&server, &browser(), "nobody", wrong).await.status(),
        401
    );
    let dave = browser();
    let r = login(&server, &dave, "dave", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let session = after(&set_cookie, "usher_session=", |c| c != ';').unwrap();
    assert!(session.len() >= 40, "{set_cookie}");
    assert_eq!(status(&server, &dave, "/api/v2/auth/4").await, 200);
    assert_eq!(status(&server, &dave, "/api/v2/logout").await, 200);
    let clean_exit = server.terminate().await;

    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let with = |message: &str| -> Vec<&Value> {
        lines
            .iter()
            .map(|l| &l["fields"])
            .filter(|f| f["message"] == message)
            .collect()
    };
    let failed = with("login failed");
    assert_eq!(failed.len(), 2, "one line per failure:\n{log}");
    assert_eq!(failed[0]["user"], "dave");
    assert_eq!(
        failed[0]["ip"], "203.0.113.7",
        "the client IP from the trusted proxy header"
    );
    assert_eq!(failed[0]["reason"], "wrong password");
    assert_eq!(failed[1]["user"], "nobody");
    assert_eq!(failed[1]["ip"], "127.0.0.1");
    assert_eq!(failed[1]["reason"], "unknown user");
    let succeeded = with("login succeeded");
    assert_eq!(succeeded.len(), 1, "one line per success:\n{log}");
    assert_eq!(succeeded[0]["user"], "dave");
    assert_eq!(succeeded[0]["ip"], "127.0.0.1");
    assert_eq!(with("logout: session ended").len(), 1, "{log}");
    for secret in [PASSWORD, wrong, &session] {
        assert!(!log.contains(secret), "the log shows {secret:?}:\n{log}");
    }
    assert!(clean_exit, "SIGTERM exits 0");
}
