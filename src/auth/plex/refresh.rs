//! The background friends refresh: re-reads the owner's friends list every
//! `plex.friends_refresh_seconds` and ends the Plex sessions of people who may no longer enter
//! (share removed, unfriended). The proxy-auth path never calls plex.tv; it learns of the revocation
//! through the cache invalidation and the change feed like any other revoke.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::access::{decide, Access, Who};
use crate::auth::AuthError;
use crate::core::Core;
use crate::store::{Actor, Job};

/// How often the loop wakes to see whether a refresh is due (the interval itself is a setting).
const WAKE: Duration = Duration::from_millis(250);

impl Core {
    /// Starts the refresh loop.
    pub(crate) fn spawn_plex_refresh(self: &Arc<Self>) {
        let core = self.clone();
        tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(WAKE).await;
                if last.elapsed() < core.settings().plex.friends_refresh {
                    continue;
                }
                last = Instant::now();
                // One instance at a time: the others skip this round.
                let run = core
                    .store
                    .run_alone(Job::PlexFriendsRefresh, core.refresh_plex_access())
                    .await
                    .map_err(AuthError::from)
                    .and_then(|ran| ran.unwrap_or(Ok(0)));
                if let Err(e) = run {
                    // plex.tv down must not lock everybody out: keep sessions, try again later.
                    tracing::warn!(code = e.code(), error = %e, "Plex friends refresh failed; sessions kept");
                }
            }
        });
    }

    /// Re-reads the friends list now and revokes the Plex sessions of people no longer allowed.
    /// Returns how many people lost their sessions.
    pub async fn refresh_plex_access(&self) -> Result<usize, AuthError> {
        let settings = self.settings();
        if !settings.auth_type.uses_backend() || settings.plex.token.is_none() {
            return Ok(0);
        }
        let plex = settings.plex.clone();
        drop(settings);
        let holders = self.store.users_with_plex_sessions().await?;
        if holders.is_empty() {
            return Ok(0);
        }
        let snapshot = self.friends_snapshot(Duration::ZERO).await?;
        let mut revoked = 0;
        for holder in holders {
            let user = match self.store.get_user(holder.0).await? {
                Some(u) => u,
                None => continue,
            };
            // The local e-mail is one plex.tv confirmed (see `plex_user`) or an administrator set;
            // with the owner's id known, a username alone names nobody (see `is_named_admin`).
            let who = Who {
                plex_id: holder.1,
                username: &holder.2,
                confirmed_email: user.email.as_deref(),
            };
            let Access::Denied(why) = decide(who, &snapshot, &plex) else {
                continue;
            };
            let n = self
                .store
                .revoke_plex_sessions(user.id, &why, &Actor::default())
                .await?;
            self.sessions.invalidate_user(user.id);
            revoked += 1;
            tracing::info!(user = %user.username, plex_id = holder.1, sessions = n, reason = %why, "Plex access withdrawn: sessions revoked");
        }
        Ok(revoked)
    }
}
