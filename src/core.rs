//! The process-wide state shared by the HTTP layer and the CLI: store, settings snapshot,
//! session cache, throttle, and the background tasks that keep them current.
//!
//! Several instances may share one database (docs/scaling.md). What must agree between them
//! lives in the store; what lives here is a copy (settings, tabs, sessions: kept current by the
//! change feed) or safe per process (SSO's memory of apps that are down, Plex check pacing).
//! Background jobs that change shared data run on one instance at a time (`Store::run_alone`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::auth::accounts::Acting;
use crate::auth::sessions::SessionCache;
use crate::auth::throttle::LoginThrottle;
use crate::auth::AuthError;
use crate::config::Config;
use crate::crypto::SecretKey;
use crate::domain::tab::TabIndex;
use crate::feed::Follower;
use crate::settings::{self, Settings};
use crate::store::{Backend, Change, ChangeKind, Job, Store};

/// Everything Usher knows at run time.
pub struct Core {
    pub config: Config,
    pub store: Store,
    pub secret_key: SecretKey,
    settings: ArcSwap<Settings>,
    pub sessions: SessionCache,
    pub throttle: LoginThrottle,
    /// How many sign-in failures this minute went to the audit log (src/audit.rs).
    pub(crate) audit_budget: crate::audit::FailureBudget,
    /// SSO's memory between sign-ins: apps that are down, credentials an app refused.
    pub sso_guard: Arc<crate::sso::guard::Guard>,
    /// Plex client, friends cache and this install's client identifier.
    pub plex: crate::auth::plex::PlexState,
    /// Tab name → group, for proxy-auth URLs naming a tab; rebuilt when tabs change.
    tabs: ArcSwap<TabIndex>,
    /// True while the change feed cannot be read (the store is down, or came back and the feed
    /// has not caught up yet): `/healthz` says "store down" until it clears.
    feed_behind: AtomicBool,
    /// Prometheus counters and histograms (`GET /metrics`).
    pub metrics: crate::metrics::Metrics,
    /// The OpenID Connect signing keys as last read (src/oidc/keys.rs).
    pub oidc_keys: crate::oidc::keys::KeyCache,
}

/// Meta key of the key check value: a known text encrypted with the instance key.
const KEY_CHECK_META_KEY: &str = "secret_key_check";
const KEY_CHECK_TEXT: &str = "usher secret key check v1";

/// Refuses a secret key other than the one the store was set up with, so that a second
/// instance (or a lost key file) fails at start with a clear message instead of failing to read
/// secrets later. The first open of a store records the check value.
async fn check_key(store: &Store, key: &SecretKey, config: &Config) -> Result<(), OpenError> {
    let check = store
        .meta_get_or_insert(KEY_CHECK_META_KEY, &key.encrypt(KEY_CHECK_TEXT))
        .await
        .map_err(|e| OpenError::Database {
            url: crate::config::redact_url(&config.database_url),
            reason: e.to_string(),
        })?;
    if key.decrypt(&check).ok().as_deref() == Some(KEY_CHECK_TEXT) {
        return Ok(());
    }
    let source = match &config.secret_key {
        Some(_) => "from USHER_SECRET_KEY / secret_key".to_string(),
        None => format!("{}", config.data_dir.join("secret.key").display()),
    };
    Err(OpenError::KeyMismatch {
        key_source: source,
        url: crate::config::redact_url(&config.database_url),
    })
}

/// What a saved change set did beyond the values it sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsSaved {
    /// Secrets forgotten because their app's address changed without them.
    pub forgotten: Vec<&'static str>,
}

/// Why Usher could not open its state.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error(
        "data dir full / read-only: {path} is {cause}. Usher keeps its database there and must \
         be able to write it: free some space or mount it read-write, then start again"
    )]
    DataDirUnwritable { path: String, cause: String },
    #[error("cannot open the database {url}: {reason}")]
    Database { url: String, reason: String },
    #[error(transparent)]
    Key(#[from] crate::crypto::CryptoError),
    #[error(
        "the secret key ({key_source}) is not the key this database was set up with: every instance and \
         every `usher` command on {url} must use the same key. Give the original key as \
         USHER_SECRET_KEY (or USHER_SECRET_KEY_FILE), or copy the first instance's \
         <data-dir>/secret.key here"
    )]
    KeyMismatch { key_source: String, url: String },
    #[error("stored setting refused: {0} (fix it with `usher settings set`)")]
    Setting(#[from] settings::SettingError),
}

impl Core {
    /// Opens the data directory, the secret key and the database (running migrations).
    pub async fn open(config: Config) -> Result<Arc<Core>, OpenError> {
        create_data_dir(&config.data_dir)?;
        if let Some(dir) = crate::config::sqlite_dir(&config.database_url) {
            check_writable(&dir)?;
        }
        let secret_key = match &config.secret_key {
            Some(k) => SecretKey::parse(k.expose_secret())?,
            None => SecretKey::load_or_create(&config.data_dir.join("secret.key"))?,
        };
        let store =
            Store::connect(&config.database_url)
                .await
                .map_err(|e| OpenError::Database {
                    url: crate::config::redact_url(&config.database_url),
                    reason: e.to_string(),
                })?;
        check_key(&store, &secret_key, &config).await?;
        let stored = store
            .load_settings()
            .await
            .map_err(|e| OpenError::Database {
                url: crate::config::redact_url(&config.database_url),
                reason: e.to_string(),
            })?;
        let snapshot = Settings::from_stored(&stored, &secret_key)?;
        // One X-Plex-Client-Identifier per install, kept in the database: PINs are bound to it.
        let client_identifier = store
            .meta_get_or_insert(
                crate::auth::plex::CLIENT_ID_META_KEY,
                &crate::auth::plex::generate_client_identifier(),
            )
            .await
            .map_err(|e| OpenError::Database {
                url: crate::config::redact_url(&config.database_url),
                reason: e.to_string(),
            })?;
        let tabs = store.list_tabs().await.map_err(|e| OpenError::Database {
            url: crate::config::redact_url(&config.database_url),
            reason: e.to_string(),
        })?;
        Ok(Arc::new(Core {
            config,
            throttle: LoginThrottle::new(store.clone()),
            store,
            secret_key,
            settings: ArcSwap::from_pointee(snapshot),
            sessions: SessionCache::default(),
            audit_budget: Default::default(),
            sso_guard: Arc::default(),
            plex: crate::auth::plex::PlexState::new(client_identifier),
            tabs: ArcSwap::from_pointee(TabIndex::new(&tabs)),
            feed_behind: AtomicBool::new(false),
            metrics: crate::metrics::Metrics::new(),
            oidc_keys: Default::default(),
        }))
    }

    /// Where the store keeps its data, for messages: the SQLite file's directory, or the
    /// PostgreSQL database (its URL without the password).
    pub fn storage_location(&self) -> String {
        let url = &self.config.database_url;
        match crate::config::sqlite_dir(url) {
            Some(dir) => dir.display().to_string(),
            None if url.starts_with("sqlite:") => "the in-memory SQLite database".into(),
            None => format!("PostgreSQL {}", crate::config::redact_url(url)),
        }
    }

    /// True while the change feed has not caught up with the store (see `feed_behind`).
    pub fn feed_behind(&self) -> bool {
        self.feed_behind.load(Ordering::Acquire)
    }

    /// Notes that the store did not answer: changes may be missed (a notification lost with
    /// the connection), so `/healthz` stays "store down" until the feed has been read again.
    pub fn store_went_away(&self) {
        self.feed_behind.store(true, Ordering::Release);
    }

    /// The current settings snapshot (cheap: an atomic load).
    pub fn settings(&self) -> arc_swap::Guard<Arc<Settings>> {
        self.settings.load()
    }

    /// The group threshold of the tab with this name (hot path: an atomic load and a lookup).
    pub fn tab_group(&self, name: &str) -> Option<crate::domain::GroupId> {
        self.tabs.load().group_of(name)
    }

    /// Swaps in a new tab-name index.
    pub(crate) fn set_tab_index(&self, tabs: &[crate::domain::Tab]) {
        self.tabs.store(Arc::new(TabIndex::new(tabs)));
    }

    /// Re-reads the settings from the store.
    pub async fn reload_settings(&self) -> Result<(), AuthError> {
        let stored = self.store.load_settings().await?;
        match Settings::from_stored(&stored, &self.secret_key) {
            Ok(s) => {
                let old = self.settings.swap(Arc::new(s));
                let new = self.settings.load();
                if old.plex.token != new.plex.token || old.plex.tv_url != new.plex.tv_url {
                    self.plex.forget_friends();
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "stored settings refused; keeping the previous ones");
                Err(AuthError::Internal(e.to_string()))
            }
        }
    }

    /// Validates and saves a set of settings all-or-nothing; returns per-key errors on refusal.
    /// A signed-in admin may change only what their group may ([`settings::Def::changeable_by`];
    /// anything else refuses the whole set), and moving an app's address forgets the secrets
    /// stored for it unless the same set sends new ones. The CLI, which holds the data directory
    /// and its key, may change everything as it asks.
    pub async fn update_settings(
        &self,
        patch: &Map<String, Value>,
        acting: &Acting,
    ) -> Result<Result<SettingsSaved, settings::PatchErrors>, AuthError> {
        if let Some(group) = acting.group {
            let refused = settings::not_changeable_by(group, patch.keys());
            if !refused.is_empty() {
                return Err(AuthError::AdminOnlySettings(refused));
            }
        }
        let mut values = match settings::validate_patch(patch)
            .and_then(|v| settings::check_cookie_settings(&self.settings(), &v).map(|()| v))
        {
            Ok(v) => v,
            Err(errors) => return Ok(Err(errors)),
        };
        let forgotten = match acting.group {
            Some(_) => settings::forget_moved_secrets(&self.settings(), &mut values),
            None => Vec::new(),
        };
        let stored: Vec<(&str, Option<String>)> = values
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    v.as_ref()
                        .map(|v| settings::encode_for_store(k, v, &self.secret_key)),
                )
            })
            .collect();
        let current = self.settings();
        let audited: Map<String, Value> = values
            .iter()
            .map(|(k, v)| {
                let secret = settings::def(k).is_some_and(|d| d.secret);
                let after = match v {
                    Some(_) if secret => Value::from("********"),
                    v => v.clone().unwrap_or(Value::Null),
                };
                let change = serde_json::json!({"before": current.shown(k), "after": after});
                (k.to_string(), change)
            })
            .collect();
        drop(current);
        self.store
            .save_settings(&stored, Value::Object(audited), &acting.actor)
            .await?;
        self.reload_settings().await?;
        let keys: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
        tracing::info!(keys = ?keys, forgotten = ?forgotten, "settings changed");
        Ok(Ok(SettingsSaved { forgotten }))
    }

    /// Starts the background tasks of a server: change feed, last-seen flush, expiry purge.
    pub async fn spawn_background(self: &Arc<Self>) -> Result<(), AuthError> {
        self.spawn_plex_refresh();
        let mut follower = Follower::after(self.store.latest_change_id().await?);
        let wake = Arc::new(tokio::sync::Notify::new());
        if self.store.backend() == Backend::Postgres {
            let core = self.clone();
            tokio::spawn(crate::feed::listen(
                self.config.database_url.clone(),
                wake.clone(),
                move || core.store_went_away(),
            ));
        }
        let core = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(core.config.change_poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = wake.notified() => {}
                }
                match core.follow_changes(&mut follower).await {
                    Ok(()) if core.feed_behind.load(Ordering::Acquire) => {
                        // Changes made while this instance could not read the feed may have
                        // been pruned since: start every session over from the store.
                        core.sessions.invalidate_all();
                        core.feed_behind.store(false, Ordering::Release);
                        tracing::info!("change feed caught up: the store answers again");
                    }
                    Ok(()) => {}
                    Err(e) => {
                        if !core.feed_behind.swap(true, Ordering::AcqRel) {
                            tracing::warn!(error = %e, "change feed read failed: cached sessions keep passing until it is back");
                        }
                    }
                }
            }
        });
        let core = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            let mut rounds: u64 = 0;
            loop {
                tick.tick().await;
                rounds += 1;
                core.flush_suppressed_failures().await;
                let seen = core.sessions.take_last_seen(crate::domain::now_coarse());
                if !seen.is_empty() {
                    if let Err(e) = core.store.touch_sessions(&seen).await {
                        tracing::warn!(error = %e, "writing last-seen times failed");
                    }
                }
                if rounds % 120 == 1 {
                    // About hourly, on one instance at a time: drop expired sessions, old
                    // change-feed rows, used PINs past expiry, day-old throttle counters and
                    // audit entries past their retention.
                    let store = &core.store;
                    let purge = async {
                        let now = crate::domain::now();
                        let purged = store.purge_expired_sessions().await.unwrap_or(0);
                        let _ = store.prune_changes(now - 3600).await;
                        let _ = store.prune_limits(now, now - 86_400).await;
                        let _ = store.purge_oidc(now).await;
                        if let Err(e) = core.enforce_audit_retention().await {
                            tracing::warn!(error = %e, "removing old audit entries failed");
                        }
                        purged
                    };
                    match store.run_alone(Job::ExpiryPurge, purge).await {
                        Ok(Some(purged)) if purged > 0 => {
                            tracing::info!(count = purged, "expired sessions removed");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "expiry purge skipped"),
                    }
                }
            }
        });
        Ok(())
    }

    /// Reads the feed where `follower` stands and applies what is new.
    pub async fn follow_changes(&self, follower: &mut Follower) -> Result<(), AuthError> {
        let now = crate::domain::now();
        let rows = self
            .store
            .changes_since(follower.last(), Follower::since(now))
            .await?;
        let changes = follower.take_new(rows, now);
        self.apply_changes(&changes).await
    }

    /// Drops what the changes make stale and reloads settings or tabs when they changed.
    pub async fn apply_changes(&self, changes: &[Change]) -> Result<(), AuthError> {
        let mut reload = false;
        let mut reload_tabs = false;
        for c in changes {
            match c.kind {
                ChangeKind::Session => self.sessions.invalidate_hex(&c.subject),
                ChangeKind::User => match c.subject.parse() {
                    Ok(id) => self.sessions.invalidate_user(id),
                    Err(_) => self.sessions.invalidate_all(),
                },
                ChangeKind::Settings => reload = true,
                ChangeKind::Tabs => reload_tabs = true,
                ChangeKind::OidcKeys => self.oidc_keys.forget(),
            }
        }
        if reload {
            self.reload_settings().await?;
        }
        if reload_tabs {
            self.reload_tabs().await?;
        }
        Ok(())
    }
}

/// Refuses a directory that cannot take a write (full disk, read-only mount) with one message
/// naming it, rather than a SQLite error at the first sign-in. Writes and removes a small file.
fn check_writable(dir: &std::path::Path) -> Result<(), OpenError> {
    use std::io::{ErrorKind, Write};
    let probe = dir.join(".usher-write-check");
    let written = std::fs::File::create(&probe).and_then(|mut f| {
        f.write_all(&[0u8; 8192])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| OpenError::DataDirUnwritable {
        path: dir.display().to_string(),
        cause: match e.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
                "full (no space left on the device)".into()
            }
            ErrorKind::ReadOnlyFilesystem => "read-only (on a read-only file system)".into(),
            ErrorKind::PermissionDenied => "read-only for this user (permission denied)".into(),
            _ => format!("not writable ({e})"),
        },
    })
}

fn create_data_dir(dir: &std::path::Path) -> Result<(), OpenError> {
    let err = |e: std::io::Error| OpenError::DataDir {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        }
    }
    Ok(())
}
