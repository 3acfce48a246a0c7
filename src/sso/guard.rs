//! What Usher remembers between sign-ins so that its SSO never hurts an app or the login:
//! - apps that are down (a timeout or a refused connection) are skipped for a while — 30 s
//!   doubling to 5 min — and checked again in the background until they answer (a circuit
//!   breaker); apps that said "too many attempts" are skipped for as long as they asked;
//! - a refusal is not retried for the same app instance, person and credentials within the
//!   app's lockout window (Tautulli locks Usher's whole address out after 10 failures).
//!
//! It must never hold a password or token: a refusal is remembered as a salted SHA-256 of
//! instance, person and credentials, with a salt that lives only in this process. No lock is
//! held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Identity, SsoApp, SsoError};

/// The longest Usher waits between background checks of an app that is down.
pub const MAX_DOWN_WAIT: Duration = Duration::from_secs(300);

/// An app instance Usher skips for now, as the debug area shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub app: &'static str,
    pub instance: String,
    /// Why, in words.
    pub reason: String,
    /// True when the app did not answer (a background check lets it back in); false when it
    /// asked to be left alone for a while ("too many attempts").
    pub down: bool,
    /// Epoch seconds when the skipping began.
    pub since: i64,
    /// Seconds until the next background check (or until the app asked to be left alone).
    pub next_check_in: u64,
}

struct Breaker {
    skipped: Skipped,
    next_check: Instant,
}

/// The memory shared by every sign-in of this process (one per [`crate::core::Core`]).
pub struct Guard {
    salt: [u8; 32],
    breakers: Mutex<HashMap<String, Breaker>>,
    refusals: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            salt: rand::random(),
            breakers: Mutex::default(),
            refusals: Mutex::default(),
        }
    }
}

/// The breaker key of an app instance.
fn instance_key(app: &dyn SsoApp) -> String {
    format!("{}\u{0}{}", app.app(), app.instance())
}

impl Guard {
    /// Why `app` must be skipped right now, if it must.
    pub fn skip(&self, app: &dyn SsoApp) -> Option<SsoError> {
        let breakers = self.breakers.lock().expect("guard lock");
        let b = breakers.get(&instance_key(app))?;
        Some(SsoError::Skipped {
            app: app.app(),
            url: app.instance(),
            reason: b.skipped.reason.clone(),
        })
    }

    /// Why `who` must not be tried at `app` again yet: the same credentials were refused there
    /// within the app's lockout window.
    pub fn refused_before(&self, app: &dyn SsoApp, who: &Identity) -> Option<SsoError> {
        let key = self.refusal_key(app, who)?;
        let mut refusals = self.refusals.lock().expect("guard lock");
        let now = Instant::now();
        refusals.retain(|_, until| *until > now);
        let until = refusals.get(&key)?;
        Some(SsoError::RefusedBefore {
            app: app.app(),
            url: app.instance(),
            user: who.username.clone(),
            wait: until.saturating_duration_since(now).as_secs().max(1),
        })
    }

    /// Learns from one app's result: remembers a refusal, skips an app that is down (and starts
    /// its background check) or that asked for a pause, and closes the breaker on success.
    pub fn learn(
        self: &Arc<Self>,
        app: &Arc<dyn SsoApp>,
        who: &Identity,
        result: &Result<super::Grant, SsoError>,
        first_wait: Duration,
    ) {
        match result {
            Ok(_) => self.close(app.as_ref()),
            Err(SsoError::Rejected { .. }) => {
                if let Some(key) = self.refusal_key(app.as_ref(), who) {
                    let until = Instant::now() + app.lockout_window();
                    self.refusals.lock().expect("guard lock").insert(key, until);
                }
            }
            Err(e @ (SsoError::Timeout { .. } | SsoError::Unreachable { .. })) => {
                let reason = format!("it did not answer at a sign-in ({e}); Usher checks it in the background and signs people in again once it answers");
                if self.open(app.as_ref(), reason, true, first_wait) {
                    tokio::spawn(self.clone().check_until_up(app.clone(), first_wait));
                }
            }
            Err(e @ SsoError::RateLimited { retry_after, .. }) => {
                let wait = Duration::from_secs(*retry_after);
                if self.open(app.as_ref(), e.to_string(), false, wait) {
                    let guard = self.clone();
                    let app = app.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        guard.close_where(app.as_ref(), |b| !b.skipped.down);
                    });
                }
            }
            Err(_) => {}
        }
    }

    /// Closes the breaker of `app` (it answered a sign-in, or the pause it asked for is over).
    pub fn close(&self, app: &dyn SsoApp) {
        self.close_where(app, |_| true);
    }

    /// Closes the breaker of `app` if it was opened because the app did not answer (it answered
    /// a check); a pause the app asked for stands.
    pub fn answered(&self, app: &dyn SsoApp) {
        self.close_where(app, |b| b.skipped.down);
    }

    fn close_where(&self, app: &dyn SsoApp, which: impl Fn(&Breaker) -> bool) {
        let mut breakers = self.breakers.lock().expect("guard lock");
        let key = instance_key(app);
        let closed = breakers.get(&key).is_some_and(which) && breakers.remove(&key).is_some();
        drop(breakers);
        if closed {
            tracing::info!(app = app.app(), instance = %app.instance(), "SSO app answers again; no longer skipped");
        }
    }

    /// The instances skipped now.
    pub fn skipped(&self) -> Vec<Skipped> {
        let now = Instant::now();
        let mut all: Vec<Skipped> = self
            .breakers
            .lock()
            .expect("guard lock")
            .values()
            .map(|b| Skipped {
                next_check_in: b.next_check.saturating_duration_since(now).as_secs(),
                ..b.skipped.clone()
            })
            .collect();
        all.sort_by(|a, b| (a.app, &a.instance).cmp(&(b.app, &b.instance)));
        all
    }

    /// Opens the breaker; false when it was open already (its background check runs).
    fn open(&self, app: &dyn SsoApp, reason: String, down: bool, wait: Duration) -> bool {
        let mut breakers = self.breakers.lock().expect("guard lock");
        let key = instance_key(app);
        if breakers.contains_key(&key) {
            return false;
        }
        tracing::warn!(app = app.app(), instance = %app.instance(), wait_s = wait.as_secs(), %reason, "SSO app skipped for now");
        breakers.insert(
            key,
            Breaker {
                skipped: Skipped {
                    app: app.app(),
                    instance: app.instance(),
                    reason,
                    down,
                    since: crate::domain::now(),
                    next_check_in: wait.as_secs(),
                },
                next_check: Instant::now() + wait,
            },
        );
        true
    }

    /// The background check of an app that is down: wait, check, and either close the breaker
    /// or wait twice as long (up to [`MAX_DOWN_WAIT`]). Ends when the breaker is closed by
    /// anyone.
    async fn check_until_up(self: Arc<Self>, app: Arc<dyn SsoApp>, first_wait: Duration) {
        let mut wait = first_wait;
        let key = instance_key(app.as_ref());
        loop {
            tokio::time::sleep(wait).await;
            if !self.breakers.lock().expect("guard lock").contains_key(&key) {
                return;
            }
            let limit = app.timeout();
            if let Ok(Ok(_)) = tokio::time::timeout(limit, app.check()).await {
                self.answered(app.as_ref());
                return;
            }
            wait = (wait * 2).min(MAX_DOWN_WAIT);
            if let Some(b) = self.breakers.lock().expect("guard lock").get_mut(&key) {
                b.next_check = Instant::now() + wait;
            }
        }
    }

    /// The salted hash naming instance + person + credentials; `None` without credentials.
    fn refusal_key(&self, app: &dyn SsoApp, who: &Identity) -> Option<[u8; 32]> {
        if who.password.is_none() && who.plex_token.is_none() {
            return None;
        }
        let mut h = Sha256::new();
        h.update(self.salt);
        for part in [
            app.app(),
            &app.instance(),
            &who.username,
            who.password.as_ref().map_or("", |p| p.expose_secret()),
            who.plex_token.as_ref().map_or("", |t| t.expose_secret()),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        Some(h.finalize().into())
    }
}
