//! Test support: the real server on 127.0.0.1:0 with a temp data dir and a fresh database,
//! plus real nginx and an echo upstream for end-to-end tests.
//!
//! `USHER_TEST_BACKEND=postgres` runs every test against a fresh PostgreSQL database created on
//! `USHER_TEST_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/test) and dropped after.
#![allow(dead_code)]

pub mod browser;
pub mod caddy;
pub mod echo;
pub mod fake_apps;
pub mod fake_plex;
pub mod nginx;
pub mod organizr;
pub mod plex_app;
pub mod process;
pub mod tcp_cut;

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Client, Response};
use serde_json::{json, Value};
use usher::auth::accounts::{Acting, CreateUser};
use usher::{Config, Core};

/// The password every test user gets unless a test says otherwise.
pub const PASSWORD: &str = "correct horse battery";

/// A running Usher for one test.
pub struct TestApp {
    pub addr: SocketAddr,
    pub core: Arc<Core>,
    pub data_dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    postgres: Option<PgDatabase>,
}

/// Which database the suite runs against.
pub fn backend_is_postgres() -> bool {
    std::env::var("USHER_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

impl TestApp {
    /// Starts Usher with defaults.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts Usher after `adjust` has changed the configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_data_dir(data_dir.path());
        let postgres = if backend_is_postgres() {
            Some(PgDatabase::create().await)
        } else {
            None
        };
        if let Some(pg) = &postgres {
            config.database_url = pg.url.clone();
        }
        adjust(&mut config);
        let app = usher::build_app(config).await.expect("Usher starts");
        let addr = app.local_addr();
        let core = app.core();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        TestApp {
            addr,
            core,
            data_dir,
            shutdown: Some(tx),
            task: Some(task),
            postgres,
        }
    }

    /// Stops the server and waits for it (so the database can be dropped cleanly).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Absolute URL of a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A fresh browser-like client: its own cookie jar, no redirects followed.
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Creates a user directly (as the CLI would).
    pub async fn add_user(&self, name: &str, group: i64) -> usher::domain::User {
        self.core
            .create_user(
                CreateUser {
                    username: name.into(),
                    email: Some(format!(
                        "{}@example.com",
                        name.to_lowercase().replace(' ', ".")
                    )),
                    password: Some(PASSWORD.into()),
                    group_id: Some(group),
                    ..Default::default()
                },
                &Acting::cli(),
            )
            .await
            .expect("user created")
    }

    /// `POST /api/v2/login` with a JSON body.
    pub async fn login(&self, client: &Client, username: &str, password: &str) -> Response {
        client
            .post(self.url("/api/v2/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    /// Signs `name` in and returns the session cookie as a `Cookie` header value
    /// (`usher_session=…`), for requests that must carry it by hand.
    pub async fn session_cookie(&self, name: &str) -> String {
        let r = self.login(&self.client(), name, PASSWORD).await;
        assert_eq!(r.status(), 200, "login of {name}");
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }

    /// A client signed in as a new user of `group`.
    pub async fn signed_in(&self, name: &str, group: i64) -> Client {
        self.add_user(name, group).await;
        let c = self.client();
        let r = self.login(&c, name, PASSWORD).await;
        assert_eq!(
            r.status(),
            200,
            "login of {name}: {}",
            r.text().await.unwrap_or_default()
        );
        c
    }

    /// GET a path, returning the body as text (a page).
    pub async fn get_text(&self, client: &Client, path: &str) -> String {
        let r = client.get(self.url(path)).send().await.expect("request");
        r.text().await.expect("body")
    }

    /// GET a path, returning status and JSON body (Null when not JSON).
    pub async fn get_json(&self, client: &Client, path: &str) -> (u16, Value) {
        let r = client.get(self.url(path)).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Asserts an API error body: `{"error":{"code":code,"message":…}}`.
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "unexpected body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "no message: {body}"
    );
}

/// A throwaway PostgreSQL database, dropped when the test ends.
pub struct PgDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        use sqlx::Connection;
        let admin_url = std::env::var("USHER_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                "USHER_TEST_BACKEND=postgres but PostgreSQL does not answer at {admin_url}: {e}. \
                 Start PostgreSQL (./scripts/test does) or set USHER_TEST_POSTGRES_URL."
            )
            });
        let name = format!(
            "usher_t_{}",
            usher::crypto::random_token(9)
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let mut url = url::Url::parse(&admin_url).expect("postgres URL");
        url.set_path(&name);
        PgDatabase {
            url: url.to_string(),
            name,
            admin_url,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async context: use a short-lived runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}
