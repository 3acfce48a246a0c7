//! kill -9 one of two instances behind nginx under a bounded load of proxied requests
//! (always PostgreSQL, like the other instance tests): no acknowledged session is lost, and the
//! survivor answers every request that starts after the kill. nginx's `proxy_next_upstream
//! error timeout` sends the proxy check to the survivor when the dead one refuses the
//! connection or drops it (the check is a GET, which nginx may send twice).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Client;
use usher::Config;

use super::*;
use crate::instances::nginx_in_front;
use crate::support::echo::spawn_echo;
use crate::support::PgDatabase;

const PEOPLE: [&str; 6] = ["ann", "ben", "cat", "dan", "eli", "fay"];
/// Concurrent clients of the load, and how long it runs before and after the kill.
const CLIENTS: usize = 6;
const BEFORE_KILL: Duration = Duration::from_millis(700);
const AFTER_KILL: Duration = Duration::from_millis(1500);
/// Bound on the requests of one client.
const MAX_REQUESTS: usize = 5000;

/// One proxied request of the load: when it started and ended, and what it got.
struct Sent {
    started: Instant,
    ended: Instant,
    status: Option<u16>,
}

#[tokio::test]
async fn kill_9_of_one_instance_behind_nginx_loses_no_session_and_the_other_answers() {
    let pg = PgDatabase::create().await;
    let tmp = tempfile::tempdir().unwrap();
    let (data_a, data_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut config = Config::for_data_dir(&data_a);
    config.database_url = pg.url.clone();
    let people: Vec<(&str, i64)> = PEOPLE.iter().map(|n| (*n, 4)).collect();
    seed_users(config, &people).await;
    let key = key_of(&data_a);
    let mut doomed = Server::start(usher_serve(&data_a, &pg.url, Some(&key))).await;
    let survivor = Server::start(usher_serve(&data_b, &pg.url, Some(&key))).await;
    let (echo, _echo_task) = spawn_echo().await;
    let nginx = nginx_in_front(doomed.addr, survivor.addr, echo).await;
    let app = nginx.url("/app/");

    // Sessions made on each instance directly, and through nginx (either one).
    let http = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut sessions = Vec::new();
    for (i, name) in PEOPLE.iter().enumerate() {
        let base = match i % 3 {
            0 => doomed.url(""),
            1 => survivor.url(""),
            _ => nginx.url(""),
        };
        let (status, cookie) = sign_in(&http, &base, name).await.unwrap();
        assert_eq!(status, 200, "{}", nginx.error_log());
        sessions.push(cookie.expect("session cookie"));
    }

    let log: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let stop_at = Instant::now() + BEFORE_KILL + AFTER_KILL;
    let mut load = Vec::new();
    for client in 0..CLIENTS {
        let (http, app, sessions, log) = (http.clone(), app.clone(), sessions.clone(), log.clone());
        load.push(tokio::spawn(async move {
            for i in 0..MAX_REQUESTS {
                if Instant::now() >= stop_at {
                    break;
                }
                let cookie = &sessions[(client + i) % sessions.len()];
                let started = Instant::now();
                let status = status_with(&http, &app, cookie).await.ok();
                let ended = Instant::now();
                log.lock().unwrap().push(Sent {
                    started,
                    ended,
                    status,
                });
            }
        }));
    }
    tokio::time::sleep(BEFORE_KILL).await;
    let kill_started = Instant::now();
    kill9(&mut doomed);
    let killed = Instant::now();
    for task in load {
        task.await.unwrap();
    }

    let log = std::mem::take(&mut *log.lock().unwrap());
    let in_flight = log
        .iter()
        .filter(|s| s.started < killed && s.ended > kill_started)
        .count();
    let after: Vec<&Sent> = log.iter().filter(|s| s.started >= killed).collect();
    let before_ok = log
        .iter()
        .filter(|s| s.ended <= kill_started)
        .all(|s| s.status == Some(200));
    let failures = log.iter().filter(|s| s.status != Some(200)).count();
    eprintln!(
        "{} proxied requests: {} before the kill, {in_flight} in flight at it, {} after; {failures} not 200",
        log.len(),
        log.iter().filter(|s| s.ended <= kill_started).count(),
        after.len()
    );
    assert!(before_ok, "every request before the kill passes");
    assert!(!after.is_empty(), "the load went on after the kill");
    let failed_after: Vec<Option<u16>> = after
        .iter()
        .filter(|s| s.status != Some(200))
        .map(|s| s.status)
        .collect();
    assert!(
        failed_after.is_empty(),
        "the survivor must answer every request that starts after the kill: {failed_after:?}\n{}",
        nginx.error_log()
    );
    assert!(
        failures <= in_flight,
        "only requests in flight at the kill may fail"
    );

    // Every session still passes, through nginx and on the survivor directly; a new sign-in
    // through nginx reaches the survivor.
    for cookie in &sessions {
        assert_eq!(status_with(&http, &app, cookie).await.unwrap(), 200);
        let direct = survivor.url("/api/v2/auth/4");
        assert_eq!(status_with(&http, &direct, cookie).await.unwrap(), 200);
    }
    let (status, cookie) = sign_in(&http, &nginx.url(""), "ann").await.unwrap();
    assert_eq!(status, 200, "sign-in after the kill\n{}", nginx.error_log());
    assert_eq!(
        status_with(&http, &app, &cookie.unwrap()).await.unwrap(),
        200
    );
}
