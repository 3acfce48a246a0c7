//! kill -9 during a storm of sign-ins, user creations and edits (admin API) and settings
//! changes, twice, on the suite's store (SQLite or PostgreSQL): after each kill the store opens
//! cleanly (SQLite: `PRAGMA integrity_check` says ok; migrations all applied) and every
//! acknowledged session, user, edit and setting is there with its acknowledged value.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::COOKIE;
use reqwest::Client;
use serde_json::{json, Value};
use sqlx::{Connection, Row};
use usher::Config;

use super::*;
use crate::support::{backend_is_postgres, PgDatabase};

/// People who sign in during the storm (group 4), and people whose e-mail is edited.
const SIGNERS: [&str; 3] = ["sam", "sue", "sid"];
const EDITED: [&str; 2] = ["eve", "ed"];
/// The settings changed together in one PATCH, and their defaults.
const RETENTION: &str = "audit.retention_days";
const IP_LIMIT: &str = "login.max_failures_per_ip";
/// How many kills; every storm step is bounded by this many requests per writer.
const KILLS: usize = 2;
const MAX_STEPS: usize = 400;

/// A value written again and again by one writer: the last acknowledged one, and those sent
/// since, which the server may have saved without answering (in flight at the kill).
#[derive(Debug, Clone, Default)]
struct Written<T> {
    acked: T,
    maybe: Vec<T>,
}

impl<T: PartialEq + Clone + std::fmt::Debug> Written<T> {
    fn new(initial: T) -> Self {
        Written {
            acked: initial,
            maybe: Vec::new(),
        }
    }
    /// Checks what the store holds and takes it as the truth for the next round.
    fn check(&mut self, stored: T, what: &str) {
        assert!(
            stored == self.acked || self.maybe.contains(&stored),
            "{what}: the store holds {stored:?}, acknowledged was {:?} (in flight: {:?})",
            self.acked,
            self.maybe
        );
        self.acked = stored;
        self.maybe.clear();
    }
}

/// Everything the server acknowledged so far.
#[derive(Debug, Clone, Default)]
struct Ledger {
    sessions: Vec<String>,
    /// (username, e-mail) of accounts created through the API.
    created: Vec<(String, String)>,
    emails: BTreeMap<i64, Written<String>>,
    settings: Written<(i64, i64)>,
    /// Answers other than 2xx while the server was alive (none expected).
    refused: Vec<String>,
    /// Acknowledgements of sign-ins, creations, edits and settings changes.
    acks: [usize; 4],
}

type Shared = Arc<Mutex<Ledger>>;

/// What every writer of a storm holds: a client, the server, the admin's cookie, the ledger.
#[derive(Clone)]
struct Writer {
    http: Client,
    base: String,
    admin: String,
    ledger: Shared,
}

impl Writer {
    /// Sends one admin request and books its answer: `ack` on `expected`, a refusal on any
    /// other status. False when the connection failed (the kill): the writer stops.
    async fn write(
        &self,
        (method, path, body): (&str, &str, Value),
        expected: u16,
        ack: impl FnOnce(&mut Ledger),
    ) -> bool {
        let url = format!("{}{path}", self.base);
        match send(&self.http, method, &url, &self.admin, body).await {
            Ok(status) if status == expected => ack(&mut self.ledger.lock().unwrap()),
            Ok(status) => self.refused(format!("{method} {path}: {status}")),
            Err(_) => return false,
        }
        true
    }

    fn refused(&self, what: String) {
        self.ledger.lock().unwrap().refused.push(what);
    }

    /// Notes a value about to be sent: from now on the store may hold it.
    fn sending(&self, note: impl FnOnce(&mut Ledger)) {
        note(&mut self.ledger.lock().unwrap());
    }
}

/// One round's writers against the server at `base`, until the connection fails (the kill) or
/// the step bound.
fn storm(
    base: &str,
    admin: &str,
    round: usize,
    edited: &[i64],
    ledger: &Shared,
) -> Vec<tokio::task::JoinHandle<()>> {
    let w = Writer {
        http: Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        base: base.to_string(),
        admin: admin.to_string(),
        ledger: ledger.clone(),
    };
    let mut tasks = Vec::new();
    for name in SIGNERS {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..MAX_STEPS {
                match sign_in(&w.http, &w.base, name).await {
                    Ok((200, Some(cookie))) => {
                        let mut l = w.ledger.lock().unwrap();
                        l.sessions.push(cookie);
                        l.acks[0] += 1;
                    }
                    Ok((status, _)) => w.refused(format!("sign-in {name}: {status}")),
                    Err(_) => return,
                }
            }
        }));
    }
    for writer in 0..2 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            for step in 0..MAX_STEPS {
                let name = format!("r{round}w{writer}n{step}");
                let email = format!("{name}@example.com");
                let body = json!({"username": name, "email": email, "group_id": 4});
                let made = |l: &mut Ledger| {
                    l.created.push((name, email));
                    l.acks[1] += 1;
                };
                if !w.write(("POST", "/api/v2/users", body), 201, made).await {
                    return;
                }
            }
        }));
    }
    for &id in edited {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let path = format!("/api/v2/users/{id}");
            for step in 0..MAX_STEPS {
                let email = format!("u{id}r{round}n{step}@example.com");
                w.sending(|l| l.emails.get_mut(&id).unwrap().maybe.push(email.clone()));
                let body = json!({ "email": email });
                let edited = |l: &mut Ledger| {
                    l.emails.get_mut(&id).unwrap().acked = email;
                    l.acks[2] += 1;
                };
                if !w.write(("PATCH", &path, body), 200, edited).await {
                    return;
                }
            }
        }));
    }
    tasks.push(tokio::spawn(async move {
        for step in 0..MAX_STEPS as i64 {
            // Unique across rounds, so a stale value from an earlier round cannot pass.
            let first = 100 + 500 * round as i64;
            let pair = (first + step, first + 100 + step);
            w.sending(|l| l.settings.maybe.push(pair));
            let body = json!({ RETENTION: pair.0, IP_LIMIT: pair.1 });
            let saved = |l: &mut Ledger| {
                l.settings.acked = pair;
                l.acks[3] += 1;
            };
            if !w
                .write(("PATCH", "/api/v2/settings", body), 200, saved)
                .await
            {
                return;
            }
        }
    }));
    tasks
}

/// A JSON request as the admin; its status.
async fn send(
    http: &Client,
    method: &str,
    url: &str,
    admin: &str,
    body: Value,
) -> reqwest::Result<u16> {
    let r = http
        .request(method.parse().unwrap(), url)
        .header(COOKIE, admin)
        .json(&body)
        .send()
        .await?;
    Ok(r.status().as_u16())
}

/// GET as the admin, as JSON.
async fn get(server: &Server, admin: &str, path: &str) -> Value {
    let r = Client::new()
        .get(server.url(path))
        .header(COOKIE, admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// Everything acknowledged is in the restarted server's store; what the check found is the
/// truth for the next round.
async fn verify(server: &Server, admin: &str, shared: &Shared) {
    let mut ledger = shared.lock().unwrap().clone();
    let http = Client::new();
    for cookie in &ledger.sessions {
        let status = status_with(&http, &server.url("/api/v2/auth/4"), cookie)
            .await
            .unwrap();
        assert_eq!(
            status,
            200,
            "an acknowledged session was lost:\n{}",
            server.log()
        );
    }
    let users = get(server, admin, "/api/v2/users").await;
    let users = users["users"].as_array().unwrap();
    let by_name: BTreeMap<&str, &Value> = users
        .iter()
        .map(|u| (u["username"].as_str().unwrap(), u))
        .collect();
    for (name, email) in &ledger.created {
        let user = by_name
            .get(name.as_str())
            .unwrap_or_else(|| panic!("acknowledged user {name} lost"));
        assert_eq!(user["email"], email.as_str(), "{name}");
    }
    for (id, written) in ledger.emails.iter_mut() {
        let user = users.iter().find(|u| u["id"] == *id).expect("edited user");
        written.check(
            user["email"].as_str().unwrap().to_string(),
            &format!("e-mail of user {id}"),
        );
    }
    let settings = get(server, admin, "/api/v2/settings").await;
    let value = |key: &str| {
        settings["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap()["value"]
            .as_i64()
            .unwrap()
    };
    ledger.settings.check(
        (value(RETENTION), value(IP_LIMIT)),
        "settings changed together",
    );
    eprintln!(
        "verified: {} sessions, {} created users, e-mails {:?}, settings {:?}",
        ledger.sessions.len(),
        ledger.created.len(),
        ledger.emails.values().map(|w| &w.acked).collect::<Vec<_>>(),
        ledger.settings.acked
    );
    *shared.lock().unwrap() = ledger;
}

/// The store as the kill left it opens cleanly: SQLite's own integrity check, and every
/// migration recorded as applied.
async fn check_store(url: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("the killed store opens");
    if url.starts_with("sqlite:") {
        let rows = sqlx::query("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let result: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        assert_eq!(result, ["ok"], "SQLite integrity check");
    }
    let failed: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations WHERE NOT success")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(failed, 0, "a migration left half done");
    conn.close().await.unwrap();
}

/// How many acknowledgements of each kind the ledger holds.
fn counts(ledger: &Shared) -> [usize; 4] {
    ledger.lock().unwrap().acks
}

#[tokio::test]
async fn kill_9_during_a_write_storm_loses_no_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let pg = if backend_is_postgres() {
        Some(PgDatabase::create().await)
    } else {
        None
    };
    let mut config = Config::for_data_dir(&data);
    if let Some(pg) = &pg {
        config.database_url = pg.url.clone();
    }
    let url = config.database_url.clone();
    let mut people: Vec<(&str, i64)> = vec![("root", 0)];
    people.extend(SIGNERS.iter().chain(EDITED.iter()).map(|n| (*n, 4)));
    let ids = seed_users(config, &people).await;
    let edited = ids[1 + SIGNERS.len()..].to_vec();
    let ledger: Shared = Arc::new(Mutex::new(Ledger {
        emails: edited
            .iter()
            .zip(EDITED)
            .map(|(id, n)| (*id, Written::new(format!("{n}@example.com"))))
            .collect(),
        settings: Written::new((90, 30)),
        ..Default::default()
    }));

    let mut server = Server::start(usher_serve(&data, &url, None)).await;
    let (status, admin) = sign_in(&Client::new(), &server.url(""), "root")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let admin = admin.expect("admin session");
    ledger.lock().unwrap().sessions.push(admin.clone());

    for round in 0..KILLS {
        let before = counts(&ledger);
        let started = Instant::now();
        let tasks = storm(&server.url(""), &admin, round, &edited, &ledger);
        // Somewhere in the storm, once every kind of write has been acknowledged in this round.
        tokio::time::sleep(Duration::from_millis(600) + jitter(Duration::from_millis(900))).await;
        while counts(&ledger)
            .iter()
            .zip(before)
            .any(|(now, then)| *now == then)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the storm acknowledged nothing of some kind: {:?}",
                ledger.lock().unwrap().refused
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        kill9(&mut server);
        eprintln!("round {round}: killed after {:?}", started.elapsed());
        for task in tasks {
            task.await.unwrap();
        }
        check_store(&url).await;
        server = Server::start(usher_serve(&data, &url, None)).await;
        verify(&server, &admin, &ledger).await;
    }
    let refused = ledger.lock().unwrap().refused.clone();
    assert!(
        refused.is_empty(),
        "answers other than 2xx before the kill: {refused:?}"
    );
    assert!(server.terminate().await, "clean stop:\n{}", server.log());
}
