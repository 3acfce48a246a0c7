//! Bootstrap configuration from flags, USHER_* variables, the TOML file and defaults.

use super::*;

#[tokio::test]
async fn configuration_precedence_is_flag_then_env_then_file_then_default() {
    let tmp = tempfile::tempdir().unwrap();
    let [a, b, c] = [free_port(), free_port(), free_port()].map(|p| format!("127.0.0.1:{p}"));
    let (file_dir, env_dir) = (tmp.path().join("from-file"), tmp.path().join("from-env"));
    let toml = tmp.path().join("usher.toml");
    fs::write(
        &toml,
        format!("listen = \"{a}\"\ndata_dir = \"{}\"\n", file_dir.display()),
    )
    .unwrap();
    let cfg = toml.to_str().unwrap();

    let mut cmd = usher(&["serve", "--config", cfg, "--listen", &c]);
    cmd.env("USHER_LISTEN", &b).env("USHER_DATA_DIR", &env_dir);
    let server = Server::start(cmd).await;
    assert_eq!(server.addr.to_string(), c, "the flag wins");
    assert!(
        env_dir.join("usher.db").exists(),
        "USHER_DATA_DIR beats the file's data_dir"
    );
    assert!(!file_dir.exists());
    drop(server);

    let mut cmd = usher(&["serve", "--config", cfg]);
    cmd.env("USHER_LISTEN", &b);
    let server = Server::start(cmd).await;
    assert_eq!(server.addr.to_string(), b, "the environment beats the file");
    drop(server);

    let mut cmd = usher(&["serve"]);
    cmd.env("USHER_CONFIG", cfg);
    let server = Server::start(cmd).await;
    assert_eq!(
        server.addr.to_string(),
        a,
        "the file (named by USHER_CONFIG) beats the default"
    );
    assert!(file_dir.join("usher.db").exists());
    drop(server);

    // Nothing given: healthcheck goes to the default address (whether or not something answers).
    let r = run(&["healthcheck"]);
    assert!(
        r.success || r.stderr.contains("http://127.0.0.1:8420/healthz"),
        "{r:?}"
    );
    // …and the data directory defaults to ./usher-data.
    let mut cmd = usher(&["user", "list"]);
    cmd.current_dir(tmp.path());
    assert!(run_with(cmd, None).success);
    assert!(tmp.path().join("usher-data/usher.db").exists());
}

/// One refused start: flags, environment, and what the message must contain.
type Refusal<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, Vec<&'a str>);

#[test]
fn configuration_errors_name_the_key_the_value_and_what_is_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("never-created");
    let d = data.to_str().unwrap();
    let toml = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let unknown_key = toml("unknown.toml", "listen = \"127.0.0.1:0\"\nlisen = \"x\"\n");
    let not_string = toml("bool.toml", "listen = true\n");
    let cases: Vec<Refusal> = vec![
        (
            vec!["--listen", "nope"],
            vec![],
            vec!["`listen`", "\"nope\"", "command line", "IP:port"],
        ),
        (
            vec![],
            vec![("USHER_LISTEN", "8420")],
            vec!["`listen`", "\"8420\"", "USHER_LISTEN", "IP:port"],
        ),
        (
            vec![],
            vec![("USHER_LOG_FORMAT", "xml")],
            vec![
                "`log_format`",
                "\"xml\"",
                "USHER_LOG_FORMAT",
                "`text` or `json`",
            ],
        ),
        (
            vec!["--log-format", "yaml"],
            vec![],
            vec!["`log_format`", "\"yaml\"", "`text` or `json`"],
        ),
        (
            vec![],
            vec![("USHER_LOG_LEVEL", "info[")],
            vec!["`log_level`", "\"info[\"", "USHER_LOG_LEVEL", "debug"],
        ),
        (
            vec!["--database-url", "mysql://x"],
            vec![],
            vec![
                "`database_url`",
                "\"mysql://x\"",
                "sqlite://",
                "postgres://",
            ],
        ),
        (
            vec![],
            vec![("USHER_LISTN", "127.0.0.1:1")],
            vec![
                "USHER_LISTN",
                "known keys",
                "USHER_LISTEN",
                "USHER_DATA_DIR",
            ],
        ),
        (
            vec!["--config", &unknown_key],
            vec![],
            vec!["`lisen`", "unknown.toml", "known keys", "listen, data_dir"],
        ),
        (
            vec!["--config", &not_string],
            vec![],
            vec!["`listen`", "true", "bool.toml", "expected a string"],
        ),
        (
            vec!["--config", "/nonexistent/usher.toml"],
            vec![],
            vec!["/nonexistent/usher.toml", "No such file"],
        ),
    ];
    for (flags, env, needles) in cases {
        let mut args = vec!["serve", "--data-dir", d];
        args.extend(flags);
        let mut cmd = usher(&args);
        cmd.envs(env);
        fails(cmd, None, &needles);
        assert!(
            !data.exists(),
            "a refused configuration must not start anything"
        );
    }
    // A database password never appears in the message.
    let msg = fails(
        usher(&["serve", "--database-url", "mysql://u:hunter22@db/x"]),
        None,
        &["database_url", "****"],
    );
    assert!(!msg.contains("hunter22"), "{msg}");
}

#[tokio::test]
async fn secret_key_file_is_honoured_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key = tmp.path().join("key");
    fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    let mut cmd = serve(&data, "127.0.0.1:0", &[]);
    cmd.env("USHER_SECRET_KEY_FILE", &key);
    let server = Server::start(cmd).await;
    assert!(
        !data.join("secret.key").exists(),
        "the given key is used instead of a generated one"
    );
    drop(server);
    let with_toml = tmp.path().join("usher.toml");
    fs::write(
        &with_toml,
        format!("secret_key_file = \"{}\"\n", key.display()),
    )
    .unwrap();
    let cfg = with_toml.to_str().unwrap();
    ok(
        &[
            "user",
            "list",
            "--config",
            cfg,
            "--data-dir",
            data.to_str().unwrap(),
        ],
        None,
    );
    assert!(!data.join("secret.key").exists());

    fs::write(&key, "not-a-key-at-all\n").unwrap();
    let mut cmd = serve(&data, "127.0.0.1:0", &[]);
    cmd.env("USHER_SECRET_KEY_FILE", &key);
    let msg = fails(
        cmd,
        None,
        &["`secret_key`", "USHER_SECRET_KEY_FILE", "64 hex digits"],
    );
    assert!(
        !msg.contains("not-a-key-at-all"),
        "the key is never shown: {msg}"
    );

    let mut cmd = serve(&data, "127.0.0.1:0", &[]);
    cmd.env("USHER_SECRET_KEY_FILE", tmp.path().join("missing"));
    fails(
        cmd,
        None,
        &[
            "`secret_key`",
            "USHER_SECRET_KEY_FILE",
            "missing",
            "No such file",
        ],
    );
}
