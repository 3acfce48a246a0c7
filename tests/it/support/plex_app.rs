//! Usher wired to a fake plex.tv: the settings of issue 3 pointed at the fake, the owner's token
//! saved, and helpers for the Plex sign-in paths.

use reqwest::{Client, Response};
use serde_json::{json, Value};

use super::fake_plex::{seeded, FakePlex, FakePlexSeed};
use super::TestApp;

/// Usher plus the fake plex.tv it talks to.
pub struct PlexApp {
    pub app: TestApp,
    pub fake: FakePlex,
}

/// How a test wants the Plex backend.
#[derive(Clone, Copy, Debug)]
pub struct PlexSetup {
    pub auth_type: &'static str,
    pub strict: bool,
    pub oauth: bool,
}

impl Default for PlexSetup {
    fn default() -> Self {
        PlexSetup {
            auth_type: "local_and_backend",
            strict: true,
            oauth: true,
        }
    }
}

impl PlexApp {
    /// The standard seed, `local_and_backend`, strict friends on `MACHINE_A`, OAuth on.
    pub async fn start() -> PlexApp {
        Self::with(PlexSetup::default()).await
    }

    /// The standard seed with `setup`.
    pub async fn with(setup: PlexSetup) -> PlexApp {
        Self::seeded(FakePlexSeed::standard(), setup).await
    }

    /// A custom seed with `setup`.
    pub async fn seeded(seed: FakePlexSeed, setup: PlexSetup) -> PlexApp {
        Self::configured(seed, setup, |_| {}).await
    }

    /// A custom seed with `setup`, Usher's configuration changed by `adjust` (its database, key).
    pub async fn configured(
        seed: FakePlexSeed,
        setup: PlexSetup,
        adjust: impl FnOnce(&mut usher::Config),
    ) -> PlexApp {
        let fake = FakePlex::start(seed).await;
        let app = TestApp::spawn_with(adjust).await;
        let owner_token = fake.account(seeded::OWNER).token;
        let me = PlexApp { app, fake };
        me.set(json!({
            "auth_type": setup.auth_type,
            "plex.token": owner_token,
            "plex.machine_id": seeded::MACHINE_A,
            "plex.strict_friends": setup.strict,
            "plex.oauth": setup.oauth,
            "plex.tv_url": me.fake.url(),
            "plex.auth_url": me.fake.auth_url(),
            "plex.timeout_seconds": 2,
        }))
        .await;
        me
    }

    /// Changes settings as the CLI would.
    pub async fn set(&self, patch: Value) {
        let map = patch.as_object().expect("an object").clone();
        self.app
            .core
            .update_settings(&map, &usher::auth::accounts::Acting::cli())
            .await
            .expect("store answers")
            .expect("settings valid");
    }

    /// `POST /api/v2/login` with a JSON body.
    pub async fn login(&self, client: &Client, body: Value) -> Response {
        client
            .post(self.app.url("/api/v2/login"))
            .json(&body)
            .send()
            .await
            .expect("login request")
    }

    /// Password sign-in; returns status and body.
    pub async fn password_login(
        &self,
        client: &Client,
        login: &str,
        password: &str,
    ) -> (u16, Value) {
        let r = self
            .login(client, json!({"username": login, "password": password}))
            .await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST /api/v2/plex/pin`; returns status and body.
    pub async fn start_pin(&self, client: &Client, body: Value) -> (u16, Value) {
        let r = client
            .post(self.app.url("/api/v2/plex/pin"))
            .json(&body)
            .send()
            .await
            .expect("pin request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET /api/v2/plex/pin/{id}`.
    pub async fn poll_pin(&self, client: &Client, id: i64) -> Response {
        client
            .get(self.app.url(&format!("/api/v2/plex/pin/{id}")))
            .send()
            .await
            .expect("poll request")
    }

    /// Waits until Usher may check a PIN at plex.tv again (polls closer together hear 202).
    pub async fn wait_pin_check(&self) {
        let pause = usher::auth::plex::PIN_CHECK_INTERVAL + std::time::Duration::from_millis(100);
        tokio::time::sleep(pause).await;
    }

    /// The popup flow from start to finish as `account`: status and body of the first poll after
    /// approval (the pending poll before it is `popup_flow_signs_in_and_binds_the_pin_to_the_browser`'s).
    pub async fn oauth_as(&self, client: &Client, account: i64) -> (u16, Value) {
        let (status, pin) = self.start_pin(client, json!({})).await;
        assert_eq!(status, 201, "{pin}");
        let id = pin["id"].as_i64().expect("pin id");
        assert!(self.fake.approve_pin(id, account), "the fake approves");
        let r = self.poll_pin(client, id).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Status of `/api/v2/me` for a client.
    pub async fn me_status(&self, client: &Client) -> u16 {
        self.app.get_json(client, "/api/v2/me").await.0
    }

    /// Status of the proxy-auth endpoint for group 4 (what nginx sees).
    pub async fn proxy_status(&self, client: &Client) -> u16 {
        client
            .get(self.app.url("/api/v2/auth?group=4"))
            .send()
            .await
            .expect("proxy auth")
            .status()
            .as_u16()
    }

    /// The raw `users` row columns Plex writes: `(plex_id, plex_token, password_hash)`.
    pub async fn plex_row(&self, username: &str) -> (Option<i64>, Option<String>, Option<String>) {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.app.core.config.database_url)
            .await
            .expect("second connection");
        let row = sqlx::query(
            "SELECT plex_id, plex_token, password_hash FROM users WHERE username_lc = $1",
        )
        .bind(username.to_lowercase())
        .fetch_one(&pool)
        .await
        .expect("user row");
        let out = (row.get(0), row.get(1), row.get(2));
        pool.close().await;
        out
    }
}
