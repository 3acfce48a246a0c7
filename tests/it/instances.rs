//! Several instances on one database: they share one secret key (a check value in the store
//! makes any other key refuse to start, with a message that says how to fix it), and a change
//! made on one reaches the others' caches by PostgreSQL notification, not by waiting for a poll.

mod outage;

use std::time::{Duration, Instant};

use reqwest::header::COOKIE;
use secrecy::SecretString;
use usher::Config;

use crate::support::tcp_cut::TcpCut;
use crate::support::{assert_error, PgDatabase, TestApp, PASSWORD};

/// A second instance's configuration: its own data dir, the first one's database.
pub(crate) fn second_instance(first: &TestApp, data_dir: &std::path::Path) -> Config {
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

/// The session cookie a sign-in answer sets, as `name=value`.
pub(crate) fn session_cookie(r: &reqwest::Response) -> String {
    crate::crash::session_cookie(r).expect("session cookie")
}

/// Signs alice in on `app`; returns her session cookie as `name=value`.
pub(crate) async fn sign_in(app: &TestApp) -> String {
    let r = app.login(&app.client(), "alice", PASSWORD).await;
    assert_eq!(r.status(), 200);
    session_cookie(&r)
}

/// Signs the session of `cookie` out through `app`.
pub(crate) async fn sign_out(app: &TestApp, cookie: &str) {
    let r = reqwest::Client::new()
        .post(app.url("/api/v2/logout"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "logout: {}", r.status());
}

/// Proxy-auth status of a request carrying `cookie`.
pub(crate) async fn proxy_auth(app: &TestApp, cookie: &str) -> u16 {
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

        sign_out(&first, &cookie).await;
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

/// Two instances on one fresh PostgreSQL database (always PostgreSQL: several instances is what
/// it is for), the second with the first's key. With `cuttable`, the first reaches the database
/// through a relay the test can cut; the second always directly (it stands for the rest of the
/// cluster, which still reaches the database).
pub(crate) async fn two_instances(
    cuttable: bool,
) -> (PgDatabase, Option<TcpCut>, TestApp, TestApp) {
    let pg = PgDatabase::create().await;
    let (relay, first_url) = if cuttable {
        let (relay, through) = TcpCut::in_front_of(&pg.url).await;
        (Some(relay), through)
    } else {
        (None, pg.url.clone())
    };
    let first = TestApp::spawn_with(|c| c.database_url = first_url).await;
    let key = key_of(&first);
    let second = TestApp::spawn_with(|c| {
        c.database_url = pg.url.clone();
        c.secret_key = Some(key);
    })
    .await;
    (pg, relay, first, second)
}

#[tokio::test]
async fn a_plex_pin_used_on_one_instance_is_refused_on_the_other() {
    use crate::plex_pin_once::{friend_sessions, makes_session, started, with_cookie};
    use crate::support::fake_plex::{seeded::FRIEND_A, FakePlexSeed};
    use crate::support::plex_app::{PlexApp, PlexSetup};

    let pg = PgDatabase::create().await;
    let p = PlexApp::configured(FakePlexSeed::standard(), PlexSetup::default(), |c| {
        c.database_url = pg.url.clone();
    })
    .await;
    let key = key_of(&p.app);
    // The second instance reads the Plex settings the first saved: same database.
    let second = TestApp::spawn_with(|c| {
        c.database_url = pg.url.clone();
        c.secret_key = Some(key);
    })
    .await;

    let (id, cookie) = started(&p).await;
    assert!(p.fake.approve_pin(id, FRIEND_A));
    let poll = format!("/api/v2/plex/pin/{id}");
    let r = with_cookie(&p.app, &poll, &cookie).await;
    assert_eq!(r.status(), 200);
    assert!(makes_session(&r));

    // The same pending cookie replayed against the other instance, which never saw the PIN.
    let r = with_cookie(&second, &poll, &cookie).await;
    assert_eq!(r.status(), 410, "replayed poll on the other instance");
    assert!(!makes_session(&r));
    assert_error(&r.json().await.unwrap(), "pin_used");
    let r = with_cookie(&second, &format!("/plex/return?pin={id}"), &cookie).await;
    assert_eq!(r.status(), 410, "replayed return on the other instance");
    assert!(!makes_session(&r));
    assert_eq!(friend_sessions(&p).await, 1, "one session in the database");
    second.stop().await;
    p.app.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_count_against_one_budget_on_every_instance() {
    let (_pg, _, first, second) = two_instances(false).await;
    first.add_user("alice", 4).await;
    let max = first.core.settings().throttle.max_failures_per_user;
    // Wrong passwords spread over both instances, as a client of an nginx `upstream` sends them.
    for i in 0..max {
        let app = if i % 2 == 0 { &first } else { &second };
        let r = app.login(&app.client(), "alice", "wrong password").await;
        assert_eq!(r.status(), 401, "failure {i}");
    }
    // The budget is spent on both: even the right password waits.
    for app in [&first, &second] {
        let r = app.login(&app.client(), "alice", PASSWORD).await;
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));
        assert_error(&r.json().await.unwrap(), "too_many_attempts");
    }
    second.stop().await;
    first.stop().await;
}

/// `GET /healthz`: status and body.
pub(crate) async fn health(app: &TestApp) -> (u16, serde_json::Value) {
    let r = reqwest::get(app.url("/healthz")).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_postgres_outage_keeps_cached_sessions_refuses_what_it_cannot_vouch_for_and_heals() {
    let (_pg, relay, first, second) = two_instances(true).await;
    let relay = relay.expect("a relay");
    first.add_user("alice", 4).await;
    first.add_user("bob", 4).await;
    let cached = sign_in(&first).await;
    let revoked = sign_in(&first).await;
    for cookie in [&cached, &revoked] {
        assert_eq!(proxy_auth(&first, cookie).await, 200, "cached on the first");
    }
    // Bob signs in on the second: the first has never seen his session.
    let r = second.login(&second.client(), "bob", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let uncached = session_cookie(&r);
    assert_eq!(health(&first).await.0, 200);

    relay.cut();
    // Revoked elsewhere while the first cannot hear about it.
    sign_out(&second, &revoked).await;

    assert_eq!(
        proxy_auth(&first, &cached).await,
        200,
        "cached session passes"
    );
    assert_eq!(
        proxy_auth(&first, &uncached).await,
        503,
        "a session it cannot look up is neither passed nor called signed out"
    );
    let (status, body) = health(&first).await;
    assert_eq!(status, 503);
    assert_error(&body, "store_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("store down") && message.contains("PostgreSQL"),
        "{message}"
    );
    // A sign-in needs the store: 503 with the error shape, not a 500 or a hang.
    let r = first.login(&first.client(), "bob", PASSWORD).await;
    assert_eq!(r.status(), 503);
    assert_error(&r.json().await.unwrap(), "store_unavailable");

    relay.restore();
    // Recovery without a restart: /healthz turns 200 once the feed has caught up.
    let back = Instant::now();
    while health(&first).await.0 != 200 {
        assert!(back.elapsed() < Duration::from_secs(30), "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "recovered {:?} after the database came back",
        back.elapsed()
    );
    assert_eq!(
        proxy_auth(&first, &revoked).await,
        401,
        "revoked while down"
    );
    assert_eq!(proxy_auth(&first, &cached).await, 200);
    assert_eq!(proxy_auth(&first, &uncached).await, 200, "looked up again");
    let r = first.login(&first.client(), "bob", PASSWORD).await;
    assert_eq!(r.status(), 200, "sign-in works again");
    second.stop().await;
    first.stop().await;
}

const TWO_INSTANCES_NGINX: &str = include_str!("../../docs/examples/nginx-two-instances.conf");

/// nginx with docs/examples/nginx-two-instances.conf: both instances in its `upstream`, and
/// `/app/` (the `echo` app) behind the proxy check.
pub(crate) async fn nginx_in_front(
    first: std::net::SocketAddr,
    second: std::net::SocketAddr,
    echo: std::net::SocketAddr,
) -> crate::support::nginx::Nginx {
    let conf = TWO_INSTANCES_NGINX
        .replace("127.0.0.1:8420", &first.to_string())
        .replace("127.0.0.1:8421", &second.to_string())
        .replace("127.0.0.1:9000", &echo.to_string())
        .replace("listen 127.0.0.1:8080", "listen 127.0.0.1:{{PORT}}");
    crate::support::nginx::Nginx::start(&conf).await
}

#[tokio::test]
async fn behind_nginx_an_instance_without_its_database_hands_the_check_to_the_other() {
    use crate::support::echo::spawn_echo;

    let (_pg, relay, first, second) = two_instances(true).await;
    let relay = relay.expect("a relay");
    let (echo, _echo_task) = spawn_echo().await;
    let nginx = nginx_in_front(first.addr, second.addr, echo).await;
    first.add_user("alice", 4).await;
    first.add_user("bob", 4).await;
    let app = |cookie: String| {
        let url = nginx.url("/app/");
        async move {
            reqwest::Client::new()
                .get(url)
                .header(COOKIE, cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // Signed in through nginx, whichever instance answers.
    let r = reqwest::Client::new()
        .post(nginx.url("/api/v2/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", nginx.error_log());
    let alice = session_cookie(&r);
    for _ in 0..4 {
        assert_eq!(app(alice.clone()).await, 200);
    }
    // Bob's session is made on the second: the first has never seen it.
    let r = second.login(&second.client(), "bob", PASSWORD).await;
    let bob = session_cookie(&r);

    relay.cut();
    for i in 0..10 {
        assert_eq!(app(alice.clone()).await, 200, "alice, request {i}");
        assert_eq!(
            app(bob.clone()).await,
            200,
            "bob, request {i}: a 503 from the first is retried on the second\n{}",
            nginx.error_log()
        );
    }
    assert_eq!(app("usher_session=nobody".into()).await, 401);
    assert_eq!(health(&first).await.0, 503);
    relay.restore();
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_background_job_runs_on_one_instance_at_a_time() {
    use sqlx::Connection;
    use usher::store::Job;

    let (pg, _, first, second) = two_instances(false).await;
    // Another instance in the middle of the hourly purge holds its advisory lock.
    let mut busy = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(Job::ExpiryPurge as i64)
        .execute(&mut busy)
        .await
        .unwrap();
    for app in [&first, &second] {
        let ran = app
            .core
            .store
            .run_alone(Job::ExpiryPurge, async { "purged" })
            .await
            .unwrap();
        assert_eq!(ran, None, "ran while another instance held the job");
    }
    // Another job is not held up by it.
    let ran = first
        .core
        .store
        .run_alone(Job::PlexFriendsRefresh, async { "refreshed" })
        .await
        .unwrap();
    assert_eq!(ran, Some("refreshed"));

    busy.close().await.unwrap();
    let ran = second
        .core
        .store
        .run_alone(Job::ExpiryPurge, async { "purged" })
        .await
        .unwrap();
    assert_eq!(ran, Some("purged"), "runs once the other instance is done");
    second.stop().await;
    first.stop().await;
}
