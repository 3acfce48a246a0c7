//! The process-wide state shared by the HTTP layer and the CLI: store, settings snapshot,
//! session cache, throttle, and the background tasks that keep them current.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::auth::sessions::SessionCache;
use crate::auth::throttle::LoginThrottle;
use crate::auth::AuthError;
use crate::config::Config;
use crate::crypto::SecretKey;
use crate::domain::tab::TabIndex;
use crate::settings::{self, Settings};
use crate::store::{Actor, ChangeKind, Store};

/// How often a server polls the change feed (CLI and other instances' changes).
pub const CHANGE_POLL: Duration = Duration::from_secs(1);

/// Everything Usher knows at run time.
pub struct Core {
    pub config: Config,
    pub store: Store,
    pub secret_key: SecretKey,
    settings: ArcSwap<Settings>,
    pub sessions: SessionCache,
    pub throttle: LoginThrottle,
    /// SSO's memory between sign-ins: apps that are down, credentials an app refused.
    pub sso_guard: Arc<crate::sso::guard::Guard>,
    /// Plex client, friends cache and this install's client identifier.
    pub plex: crate::auth::plex::PlexState,
    /// Tab name → group, for proxy-auth URLs naming a tab; rebuilt when tabs change.
    tabs: ArcSwap<TabIndex>,
}

/// Why Usher could not open its state.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error("cannot open the database {url}: {reason}")]
    Database { url: String, reason: String },
    #[error(transparent)]
    Key(#[from] crate::crypto::CryptoError),
    #[error("stored setting refused: {0} (fix it with `usher settings set`)")]
    Setting(#[from] settings::SettingError),
}

impl Core {
    /// Opens the data directory, the secret key and the database (running migrations).
    pub async fn open(config: Config) -> Result<Arc<Core>, OpenError> {
        create_data_dir(&config.data_dir)?;
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
            store,
            secret_key,
            settings: ArcSwap::from_pointee(snapshot),
            sessions: SessionCache::default(),
            throttle: LoginThrottle::default(),
            sso_guard: Arc::default(),
            plex: crate::auth::plex::PlexState::new(client_identifier),
            tabs: ArcSwap::from_pointee(TabIndex::new(&tabs)),
        }))
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
    pub async fn update_settings(
        &self,
        patch: &Map<String, Value>,
        actor: &Actor,
    ) -> Result<Result<(), std::collections::BTreeMap<String, String>>, AuthError> {
        let values = match settings::validate_patch(patch) {
            Ok(v) => v,
            Err(errors) => return Ok(Err(errors)),
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
        let audited: Map<String, Value> = values
            .iter()
            .map(|(k, v)| {
                let secret = settings::def(k).is_some_and(|d| d.secret);
                let shown = if secret {
                    Value::from("********")
                } else {
                    v.clone().unwrap_or(Value::Null)
                };
                (k.to_string(), shown)
            })
            .collect();
        self.store
            .save_settings(&stored, Value::Object(audited), actor)
            .await?;
        self.reload_settings().await?;
        let keys: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
        tracing::info!(keys = ?keys, "settings changed");
        Ok(Ok(()))
    }

    /// Starts the background tasks of a server: change feed, last-seen flush, expiry purge.
    pub async fn spawn_background(self: &Arc<Self>) -> Result<(), AuthError> {
        self.spawn_plex_refresh();
        let mut last = self.store.latest_change_id().await?;
        let core = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHANGE_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match core.apply_changes(last).await {
                    Ok(id) => last = id,
                    Err(e) => tracing::warn!(error = %e, "change feed poll failed"),
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
                let seen = core.sessions.take_last_seen();
                if !seen.is_empty() {
                    if let Err(e) = core.store.touch_sessions(&seen).await {
                        tracing::warn!(error = %e, "writing last-seen times failed");
                    }
                }
                if rounds % 120 == 1 {
                    // About hourly: drop expired sessions and old change-feed rows.
                    let purged = core.store.purge_expired_sessions().await.unwrap_or(0);
                    let _ = core.store.prune_changes(crate::domain::now() - 3600).await;
                    if purged > 0 {
                        tracing::info!(count = purged, "expired sessions removed");
                    }
                }
            }
        });
        Ok(())
    }

    /// Applies feed entries after `after`; returns the last id seen.
    pub async fn apply_changes(&self, after: i64) -> Result<i64, AuthError> {
        let changes = self.store.changes_since(after).await?;
        let mut last = after;
        let mut reload = false;
        let mut reload_tabs = false;
        for c in &changes {
            last = c.id;
            match c.kind {
                ChangeKind::Session => self.sessions.invalidate_hex(&c.subject),
                ChangeKind::User => match c.subject.parse() {
                    Ok(id) => self.sessions.invalidate_user(id),
                    Err(_) => self.sessions.invalidate_all(),
                },
                ChangeKind::Settings => reload = true,
                ChangeKind::Tabs => reload_tabs = true,
            }
        }
        if reload {
            self.reload_settings().await?;
        }
        if reload_tabs {
            self.reload_tabs().await?;
        }
        Ok(last)
    }
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
