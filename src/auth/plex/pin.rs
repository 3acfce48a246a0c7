//! The PIN ("Plex OAuth") flow, server side. Usher creates the PIN with its own client identifier
//! and binds it to the browser that asked through a short-lived cookie holding a [`PendingPin`],
//! sealed with the instance key: the browser cannot read or forge it, and any instance can open
//! it. Only that browser can finish the sign-in; plex.tv is polled by Usher, never by the page.
//! A PIN makes one session, whichever instance the cookie is replayed against: the used mark
//! and the per-IP count of PINs started are kept in the store (`store::limits`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::PlexState;
use crate::auth::{AuthError, ClientInfo, SignedIn};
use crate::core::Core;
use crate::domain::{now, SessionMethod};
use crate::plex::{PinState, PlexToken};
use crate::store::RateScope;

/// Name of the cookie that binds a PIN to a browser.
pub const PENDING_COOKIE: &str = "usher_plex_pin";

/// Longest a browser may take to approve a PIN (plex.tv allows 30 minutes).
pub const PIN_MAX_SECONDS: i64 = 15 * 60;

/// How long after expiry the cookie is still kept, so a late poll hears "expired" (410) rather
/// than "not this browser's" (404).
pub const COOKIE_GRACE_SECONDS: i64 = 10 * 60;

/// What the PIN is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinPurpose {
    /// Signing someone in.
    Login,
    /// An administrator retrieving the server owner's token (the "Retrieve" button).
    OwnerToken,
}

/// The state of one PIN flow, kept in the browser's pending cookie (sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPin {
    /// plex.tv's PIN id (also the id in `/api/v2/plex/pin/{id}`).
    pub pin_id: i64,
    pub purpose: PinPurpose,
    /// Epoch seconds after which the PIN counts as expired.
    pub expires_at: i64,
    /// Where to go after signing in (checked again against the redirect rules when used).
    #[serde(default)]
    pub rd: Option<String>,
    #[serde(default)]
    pub remember: bool,
    /// For [`PinPurpose::OwnerToken`]: the admin who started it.
    #[serde(default)]
    pub started_by: Option<i64>,
}

/// A PIN just created: the pending state and the plex.tv page to send the browser to.
#[derive(Debug)]
pub struct StartedPin {
    pub pending: PendingPin,
    pub auth_url: String,
}

/// Where a PIN stands when this browser asks.
#[derive(Debug)]
pub enum PinProgress {
    Pending,
    Approved(PlexToken),
}

impl Core {
    /// Counts a PIN started from `ip` on any instance; throttled over [`super::PINS_PER_IP`]
    /// per [`super::PIN_WINDOW`].
    pub async fn count_pin_start(&self, ip: std::net::IpAddr) -> Result<(), AuthError> {
        let window = super::PIN_WINDOW.as_secs() as i64;
        let now = now();
        let counted = self
            .store
            .count_hit(RateScope::PlexPinIp, &ip.to_string(), window, now)
            .await?;
        match counted.blocked_for(super::PINS_PER_IP + 1, window, now) {
            Some(wait) => {
                tracing::warn!(ip = %ip, wait_seconds = wait, "Plex PIN refused: too many from this address");
                Err(AuthError::Throttled(wait))
            }
            None => Ok(()),
        }
    }

    /// Creates a PIN at plex.tv. `forward_url` (the redirect flow) is where plex.tv's page sends the
    /// browser once approved; `build_forward` receives the PIN id to put in it.
    pub async fn start_pin(
        &self,
        mut pending: PendingPin,
        build_forward: Option<&(dyn Fn(i64) -> String + Send + Sync)>,
    ) -> Result<StartedPin, AuthError> {
        let client = self.plex_client()?;
        let pin = client.create_pin().await.map_err(|e| {
            tracing::warn!(code = e.code(), error = %e, "creating a Plex PIN failed");
            AuthError::Plex(e)
        })?;
        let lifetime = (pin.expires_in.as_secs() as i64).clamp(1, PIN_MAX_SECONDS);
        pending.pin_id = pin.id;
        pending.expires_at = now() + lifetime;
        let forward = build_forward.map(|f| f(pin.id));
        let auth_url =
            client.auth_app_url(&self.settings().plex.auth_url, &pin, forward.as_deref());
        Ok(StartedPin { pending, auth_url })
    }

    /// Asks plex.tv about this browser's PIN, at most once per [`super::PIN_CHECK_INTERVAL`]
    /// (polls in between are answered "pending" without asking).
    pub async fn poll_pin(&self, pending: &PendingPin) -> Result<PinProgress, AuthError> {
        if now() >= pending.expires_at {
            return Err(AuthError::PinExpired);
        }
        if self.store.plex_pin_used(pending.pin_id).await? {
            return Err(AuthError::PinUsed);
        }
        if !self.plex.take_pin_check(pending.pin_id) {
            return Ok(PinProgress::Pending);
        }
        let state = self
            .plex_client()?
            .check_pin(pending.pin_id)
            .await
            .map_err(AuthError::Plex)?;
        match state {
            PinState::Pending => Ok(PinProgress::Pending),
            PinState::Approved(token) => Ok(PinProgress::Approved(token)),
            PinState::Expired => Err(AuthError::PinExpired),
        }
    }

    /// Polls this browser's sign-in PIN and, once plex.tv approved it, signs the person in
    /// (`None` while pending). A PIN already used is refused and audited: a replayed pending
    /// cookie is someone trying one Plex sign-in twice.
    pub async fn finish_pin_sign_in(
        &self,
        pending: &PendingPin,
        client: &ClientInfo,
    ) -> Result<Option<SignedIn>, AuthError> {
        let outcome = match self.poll_pin(pending).await {
            Ok(PinProgress::Pending) => Ok(None),
            Ok(PinProgress::Approved(token)) => self
                .sign_in_with_pin(pending, &token, client)
                .await
                .map(Some),
            Err(e) => Err(e),
        };
        if let Err(AuthError::PinUsed) = outcome {
            self.refused(
                SessionMethod::PlexOauth,
                None,
                "Plex sign-in already used",
                client,
            );
        }
        outcome
    }

    /// Signs in with the token of an approved sign-in PIN: one session per PIN, however often
    /// the pending cookie is replayed. A failed sign-in leaves the PIN usable for a retry.
    async fn sign_in_with_pin(
        &self,
        pending: &PendingPin,
        token: &PlexToken,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        if !self
            .store
            .claim_plex_pin(pending.pin_id, pending.expires_at)
            .await?
        {
            tracing::warn!(ip = %client.ip, pin_id = pending.pin_id, "Plex PIN used again: refused");
            return Err(AuthError::PinUsed);
        }
        let signed_in = self.login_plex_token(token, pending.remember, client).await;
        self.metrics
            .login(crate::metrics::LoginMethod::PlexPin, &signed_in);
        if signed_in.is_err() {
            self.store.release_plex_pin(pending.pin_id).await?;
        }
        signed_in
    }

    /// The pending PIN as a cookie value: encrypted and authenticated with the instance key.
    pub fn seal_pending(&self, pending: &PendingPin) -> String {
        let json = serde_json::to_string(pending).expect("a PendingPin serializes");
        URL_SAFE_NO_PAD.encode(self.secret_key.encrypt(&json))
    }

    /// Opens a cookie value made by [`Core::seal_pending`]; `None` when forged or damaged.
    pub fn open_pending(&self, sealed: &[u8]) -> Option<PendingPin> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        let text = self
            .secret_key
            .decrypt(std::str::from_utf8(&raw).ok()?)
            .ok()?;
        serde_json::from_str(&text).ok()
    }
}

impl PlexState {
    /// True when `pin_id` may be checked at plex.tv now (and counts the check).
    fn take_pin_check(&self, pin_id: i64) -> bool {
        self.pin_checks.entry(pin_id).or_insert(()).is_fresh()
    }
}
