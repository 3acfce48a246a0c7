//! Sign in with Plex: the plex.tv client as the settings configure it, who may enter (owner,
//! friends, strict machine share), accounts made or linked by a Plex sign-in, the PIN flow, and the
//! background friends refresh that ends the sessions of people whose share was removed.

pub mod access;
mod accounts;
mod login;
pub mod pin;
mod refresh;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::AuthError;
use crate::core::Core;
use crate::plex::{PlexClient, PlexClientConfig, PlexError, PlexToken};
use access::FriendsSnapshot;

/// The `meta` key under which this install keeps its `X-Plex-Client-Identifier`.
pub const CLIENT_ID_META_KEY: &str = "plex_client_identifier";

/// Longest time a sign-in decision may rest on a friends list fetched earlier.
const SIGN_IN_FRIENDS_MAX_AGE: Duration = Duration::from_secs(60);

/// PINs one client IP may create per [`PIN_WINDOW`]: enough for a household behind one address,
/// too few to make plex.tv throttle this install's client identifier for everybody.
pub const PINS_PER_IP: u32 = 30;
/// The window of [`PINS_PER_IP`].
pub const PIN_WINDOW: Duration = Duration::from_secs(600);

/// Least time between two plex.tv checks of one PIN; polls in between hear "pending".
pub const PIN_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Plex state kept for the life of the process. What several instances must agree on (PINs
/// started per IP, PINs already used) lives in the store instead (`store::limits`); what is
/// here is safe per process: the client and friends cache are copies of shared truth, and the
/// check pacing only spares plex.tv (with N instances a PIN is checked at most N times per
/// [`PIN_CHECK_INTERVAL`], and checking it grants nothing).
pub struct PlexState {
    client_identifier: String,
    /// PINs checked at plex.tv in the last [`PIN_CHECK_INTERVAL`].
    pin_checks: moka::sync::Cache<i64, ()>,
    /// The client for the current `plex.tv_url` and timeout, rebuilt when they change.
    client: Mutex<Option<(ClientKey, PlexClient)>>,
    friends: Mutex<Option<Arc<FriendsSnapshot>>>,
}

#[derive(Clone, PartialEq, Eq)]
struct ClientKey {
    tv_url: String,
    timeout: Duration,
}

impl PlexState {
    /// State for an install whose client identifier is `client_identifier`.
    pub fn new(client_identifier: String) -> Self {
        PlexState {
            client_identifier,
            pin_checks: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(PIN_CHECK_INTERVAL)
                .build(),
            client: Mutex::new(None),
            friends: Mutex::new(None),
        }
    }

    /// This install's `X-Plex-Client-Identifier` (not secret: plex.tv shows it in device lists).
    pub fn client_identifier(&self) -> &str {
        &self.client_identifier
    }

    /// Forgets the cached friends list (after the owner's token or the machine changed).
    pub fn forget_friends(&self) {
        *lock(&self.friends) = None;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A new random client identifier, formatted like a UUID v4.
pub fn generate_client_identifier() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Identifies a token without keeping it in clear: which owner a cached friends list belongs to.
fn fingerprint(token: &PlexToken, tv_url: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tv_url.as_bytes());
    h.update([0]);
    h.update(token.expose().as_bytes());
    h.finalize().into()
}

impl Core {
    /// The plex.tv client for the current settings.
    pub fn plex_client(&self) -> Result<PlexClient, AuthError> {
        let settings = self.settings();
        let key = ClientKey {
            tv_url: settings.plex.tv_url.to_string(),
            timeout: settings.plex.timeout,
        };
        let mut cached = lock(&self.plex.client);
        if let Some((k, client)) = cached.as_ref() {
            if *k == key {
                return Ok(client.clone());
            }
        }
        let mut config = PlexClientConfig::new(self.plex.client_identifier.clone());
        config.tv_url = settings.plex.tv_url.clone();
        config.timeout = settings.plex.timeout;
        config.timer = self.metrics.plex_timer();
        config.connect_timeout = settings.plex.timeout.min(Duration::from_secs(5));
        let client = PlexClient::new(config).map_err(AuthError::Plex)?;
        *cached = Some((key, client.clone()));
        Ok(client)
    }

    /// The owner's token from `plex.token`, or why Plex sign-in cannot work without it.
    pub(crate) fn owner_token(&self) -> Result<PlexToken, AuthError> {
        self.settings().plex.token.clone().ok_or_else(|| {
            AuthError::PlexNotConfigured(
                "Sign in with Plex is not set up: an administrator must save the server owner's Plex token (plex.token)".into(),
            )
        })
    }

    /// The owner's account and friends, from the cache when it is younger than `max_age`.
    pub(crate) async fn friends_snapshot(
        &self,
        max_age: Duration,
    ) -> Result<Arc<FriendsSnapshot>, AuthError> {
        let token = self.owner_token()?;
        let tv_url = self.settings().plex.tv_url.to_string();
        let print = fingerprint(&token, &tv_url);
        if let Some(snap) = lock(&self.plex.friends).clone() {
            if snap.token_fingerprint == print && snap.fetched.elapsed() < max_age {
                return Ok(snap);
            }
        }
        let client = self.plex_client()?;
        let (owner, friends) = tokio::join!(client.account(&token), client.friends(&token));
        let owner_error = |e: PlexError| match e {
            PlexError::TokenInvalid => AuthError::PlexAdminTokenInvalid,
            e => AuthError::Plex(e),
        };
        let owner = owner.map_err(owner_error)?;
        let friends = friends.map_err(owner_error)?;
        let snap = Arc::new(FriendsSnapshot::new(print, Instant::now(), &owner, friends));
        *lock(&self.plex.friends) = Some(snap.clone());
        Ok(snap)
    }

    /// The friends list for a sign-in decision: at most a minute (or the refresh interval) old.
    pub(crate) async fn friends_for_sign_in(&self) -> Result<Arc<FriendsSnapshot>, AuthError> {
        let refresh = self.settings().plex.friends_refresh;
        self.friends_snapshot(refresh.min(SIGN_IN_FRIENDS_MAX_AGE))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_identifiers_look_like_uuids_and_differ() {
        let a = generate_client_identifier();
        let b = generate_client_identifier();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert_eq!(a.matches('-').count(), 4);
    }
}
