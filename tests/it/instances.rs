//! Several instances on one database: they share one secret key (a check value in the store
//! makes any other key refuse to start, with a message that says how to fix it), and a change
//! made on one reaches the others' caches by PostgreSQL notification, not by waiting for a poll.

use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, SET_COOKIE};
use secrecy::SecretString;
use usher::Config;

use crate::support::{PgDatabase, TestApp, PASSWORD};

/// A second instance's configuration: its own data dir, the first one's database.
fn second_instance(first: &TestApp, data_dir: &std::path::Path) -> Config {
    let mut config = Config::for_data_dir(data_dir);
    config.database_url = first.core.config.database_url.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config
}

#[tokio::test]
async fn an_instance_with_another_key_refuses_to_start() {
    let first = TestApp::spawn().await;
    let other = tempfile::tempdir().unwrap();

    // No key given: the second data dir generates its own, which is not the store's.
    let err = match usher::build_app(second_instance(&first, other.path())).await {
        Ok(_) => panic!("an instance with another key started"),
        Err(e) => e.to_string(),
    };
    for needle in [
        "not the key this database was set up with",
        "USHER_SECRET_KEY",
        "secret.key",
    ] {
        assert!(err.contains(needle), "no {needle:?} in: {err}");
    }
    let generated = std::fs::read_to_string(other.path().join("secret.key")).unwrap();
    assert!(
        !err.contains(generated.trim()),
        "the key is never shown: {err}"
    );

    // The first instance's key, given as USHER_SECRET_KEY would give it: the second one starts.
    let key = std::fs::read_to_string(first.data_dir.path().join("secret.key")).unwrap();
    let mut config = second_instance(&first, other.path());
    config.secret_key = Some(SecretString::from(key.trim().to_string()));
    let second = usher::build_app(config)
        .await
        .expect("the same key is accepted");
    drop(second);
    first.stop().await;
}

/// The key file of a running instance, as USHER_SECRET_KEY would give it to another.
fn key_of(app: &TestApp) -> SecretString {
    let key = std::fs::read_to_string(app.data_dir.path().join("secret.key")).unwrap();
    SecretString::from(key.trim().to_string())
}

/// Signs alice in on `app`; returns her session cookie as `name=value`.
async fn sign_in(app: &TestApp) -> String {
    let r = app.login(&app.client(), "alice", PASSWORD).await;
    assert_eq!(r.status(), 200);
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("usher_session="))
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string()
}

/// Proxy-auth status of a request carrying `cookie`.
async fn proxy_auth(app: &TestApp, cookie: &str) -> u16 {
    reqwest::Client::new()
        .get(app.url("/api/v2/auth/4"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_sign_out_on_one_instance_reaches_the_other_by_notification() {
    // Always PostgreSQL (notifications are its feature), and a poll so slow that only a
    // notification can carry the change within the test.
    let pg = PgDatabase::create().await;
    let hour = Duration::from_secs(3600);
    let first = TestApp::spawn_with(|c| {
        c.database_url = pg.url.clone();
        c.change_poll = hour;
    })
    .await;
    let key = key_of(&first);
    let second = TestApp::spawn_with(|c| {
        c.database_url = pg.url.clone();
        c.secret_key = Some(key);
        c.change_poll = hour;
    })
    .await;
    first.add_user("alice", 4).await;
    // Two rounds: the listener's first connection also wakes the follower once, so only the
    // second round proves that the notification itself carries the change.
    for round in 1..=2 {
        let cookie = sign_in(&first).await;
        // The second instance knows the session and caches it.
        assert_eq!(proxy_auth(&second, &cookie).await, 200);
        assert_eq!(proxy_auth(&second, &cookie).await, 200);

        let r = reqwest::Client::new()
            .post(first.url("/api/v2/logout"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "logout: {}", r.status());
        let signed_out = Instant::now();
        let mut status = 200;
        while status == 200 && signed_out.elapsed() < Duration::from_secs(10) {
            status = proxy_auth(&second, &cookie).await;
            if status == 200 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        assert_eq!(
            status, 401,
            "round {round}: the second instance still lets the signed-out session pass"
        );
        eprintln!(
            "round {round}: sign-out seen by the other instance after {:?}",
            signed_out.elapsed()
        );
    }
    second.stop().await;
    first.stop().await;
}
