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

#[tokio::test]
async fn plex_sign_ins_log_who_and_how_but_no_secret() {
    use crate::support::fake_plex::{seeded::*, FakePlex, FakePlexSeed};
    let fake = FakePlex::start(FakePlexSeed::standard()).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let owner_token = fake.account(OWNER).token;
    for (key, value) in [
        ("auth_type", "backend".to_string()),
        ("plex.oauth", "true".into()),
        ("plex.token", owner_token.clone()),
        ("plex.machine_id", MACHINE_A.into()),
        ("plex.tv_url", fake.url()),
        ("plex.auth_url", fake.auth_url()),
    ] {
        ok(&["settings", "set", key, &value, "--data-dir", d], None);
    }
    let mut server = Server::start(serve(
        &data,
        "127.0.0.1:0",
        &["--log-format", "json", "--log-level", "debug"],
    ))
    .await;
    let plex_login = |user: &'static str, password: &'static str, code: Option<&'static str>| {
        let url = server.url("/api/v2/login");
        async move {
            let c = browser();
            let r = c
                .post(url)
                .json(&json!({"username": user, "password": password, "code": code}))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.headers()
                    .get_all("set-cookie")
                    .iter()
                    .map(|v| v.to_str().unwrap().to_string())
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(plex_login("friendly", "wrong-plex-pass", None).await.0, 401);
    assert_eq!(plex_login("twofactor", "twofactor-pass", None).await.0, 422);
    let (status, cookies) = plex_login("twofactor", "twofactor-pass", Some(TWO_FACTOR_CODE)).await;
    assert_eq!(status, 200);
    let (status, mut more) = plex_login("friendly", "hunter2", None).await;
    assert_eq!(status, 200);
    more.extend(cookies);
    // The PIN flow.
    let c = browser();
    let r = c
        .post(server.url("/api/v2/plex/pin"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    more.extend(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string()),
    );
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert!(fake.approve_pin(id, FRIEND_A));
    let r = c
        .get(server.url(&format!("/api/v2/plex/pin/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    more.extend(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string()),
    );
    assert!(server.terminate().await);

    let log = server.log();
    let succeeded: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| l["fields"].clone())
        .filter(|f| f["message"] == "login succeeded")
        .collect();
    let methods: Vec<&str> = succeeded
        .iter()
        .filter_map(|f| f["method"].as_str())
        .collect();
    assert_eq!(
        methods,
        ["plex_password", "plex_password", "plex_oauth"],
        "{log}"
    );
    assert!(log.contains("plex.tv refused the password"), "{log}");
    assert!(
        log.contains("/api/v2/users/signin"),
        "debug lines name the plex.tv calls: {log}"
    );
    let mut secrets = vec![
        owner_token,
        fake.account(FRIEND_A).token,
        fake.account(TWO_FACTOR).token,
        "hunter2".into(),
        "wrong-plex-pass".into(),
        "twofactor-pass".into(),
    ];
    secrets.extend(fake.pins().into_iter().map(|p| p.code));
    for cookie in &more {
        let value = after(cookie, "=", |c| c != ';').unwrap_or_default();
        if value.len() > 8 {
            secrets.push(value);
        }
    }
    assert!(secrets.len() >= 10, "{secrets:?}");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log shows {secret:?}:\n{log}"
        );
    }
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_before_exiting() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let tmp = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = Server::start(serve(&tmp.path().join("data"), &listen, &[])).await;

    // A sign-in whose body is still on its way: the request is in flight when SIGTERM comes.
    let body = json!({"username": "nobody", "password": "not the password"}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "POST /api/v2/login HTTP/1.1\r\nHost: {listen}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = server.proc.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server.proc.0.try_wait().unwrap().is_none(),
        "exited with a request in flight:\n{}",
        server.log()
    );
    // New connections are no longer taken.
    assert!(
        Client::new()
            .get(server.url("/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_err(),
        "a new request was served after SIGTERM"
    );

    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "the request in flight was answered: {answer:?}"
    );
    assert!(answer.contains("invalid_credentials"), "{answer}");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = server.proc.0.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < DEADLINE, "no exit after draining");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exits 0 once drained:\n{}", server.log());
}

#[tokio::test]
async fn an_empty_key_file_stops_serve_with_what_to_do_and_first_start_leaves_no_temp_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let key_file = data.join("secret.key");
    // What an interrupted first start of an older version could leave.
    fs::write(&key_file, "").unwrap();
    let path = key_file.display().to_string();
    let err = fails(
        serve(&data, "127.0.0.1:0", &[]),
        None,
        &[&path, "is empty", "delete", "USHER_SECRET_KEY"],
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(read(&key_file), "", "not replaced behind the admin's back");

    // Deleted, as the message says for an install never used: a new key, written whole.
    fs::remove_file(&key_file).unwrap();
    let mut server = Server::start(serve(&data, "127.0.0.1:0", &[])).await;
    assert_eq!(read(&key_file).trim().len(), 64);
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(mode(&data.join("setup-token")), 0o600);
    let temp: Vec<_> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(temp.is_empty(), "temporary files left: {temp:?}");
    assert!(server.terminate().await, "{}", server.log());
}
