//! Shared limits: the counters and one-time marks that every instance on this database must see
//! alike (failed sign-ins, Plex PINs started per IP, Plex PINs already used), and the lock that
//! lets one instance at a time run a background job.
//!
//! Must never: count in two statements what one must count (a read then a write would let two
//! instances both see "one left"), nor let a used PIN be claimed twice.

use std::future::Future;

use sqlx::Row;

use super::{Backend, Store, StoreError};

/// What a [`Store::count_hit`] counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateScope {
    /// Failed sign-ins naming an account (subject: its id).
    LoginAccount,
    /// Failed sign-ins with text that names no account (subject: its look-alike key).
    LoginName,
    /// Failed sign-ins from a client IP (IPv6 per /64).
    LoginIp,
    /// Plex PINs started from a client IP.
    PlexPinIp,
}

impl RateScope {
    fn as_str(self) -> &'static str {
        match self {
            RateScope::LoginAccount => "login_account",
            RateScope::LoginName => "login_name",
            RateScope::LoginIp => "login_ip",
            RateScope::PlexPinIp => "plex_pin_ip",
        }
    }
}

/// A counter's current window: when it started and how many hits it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub start: i64,
    pub hits: i64,
}

impl RateWindow {
    /// Seconds until the window ends when it holds `max` hits or more.
    pub fn blocked_for(&self, max: u32, window: i64, now: i64) -> Option<u64> {
        let end = self.start + window;
        (self.hits >= i64::from(max) && now < end).then(|| (end - now).max(1) as u64)
    }
}

/// Background jobs that run on one instance at a time (each its PostgreSQL advisory lock key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    PlexFriendsRefresh = 0x5573_6801,
    ExpiryPurge = 0x5573_6802,
}

impl Store {
    /// The counter's window, if it has one.
    pub async fn rate_window(
        &self,
        scope: RateScope,
        subject: &str,
    ) -> Result<Option<RateWindow>, StoreError> {
        let row = sqlx::query(
            "SELECT window_start, hits FROM rate_windows WHERE scope = $1 AND subject = $2",
        )
        .bind(scope.as_str())
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| RateWindow {
            start: r.get(0),
            hits: r.get(1),
        }))
    }

    /// Counts one hit in one statement: a window over (`window` seconds old) starts again at
    /// `now`. Returns the window after the hit.
    pub async fn count_hit(
        &self,
        scope: RateScope,
        subject: &str,
        window: i64,
        now: i64,
    ) -> Result<RateWindow, StoreError> {
        let row = sqlx::query(
            "INSERT INTO rate_windows (scope, subject, window_start, hits) VALUES ($1, $2, $3, 1)
             ON CONFLICT (scope, subject) DO UPDATE SET
               hits = CASE WHEN $3 - rate_windows.window_start >= $4 THEN 1 ELSE rate_windows.hits + 1 END,
               window_start = CASE WHEN $3 - rate_windows.window_start >= $4 THEN $3 ELSE rate_windows.window_start END
             RETURNING window_start, hits",
        )
        .bind(scope.as_str())
        .bind(subject)
        .bind(now)
        .bind(window)
        .fetch_one(&self.pool)
        .await?;
        Ok(RateWindow {
            start: row.get(0),
            hits: row.get(1),
        })
    }

    /// Forgets a counter (a successful sign-in clears its account's failures).
    pub async fn clear_rate(&self, scope: RateScope, subject: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM rate_windows WHERE scope = $1 AND subject = $2")
            .bind(scope.as_str())
            .bind(subject)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a Plex PIN used; false when some instance already did.
    pub async fn claim_plex_pin(&self, pin_id: i64, expires_at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO used_plex_pins (pin_id, expires_at) VALUES ($1, $2) ON CONFLICT (pin_id) DO NOTHING",
        )
        .bind(pin_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// True when a Plex PIN already made a session.
    pub async fn plex_pin_used(&self, pin_id: i64) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM used_plex_pins WHERE pin_id = $1")
                .bind(pin_id)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Gives a PIN back after its sign-in failed, so the person may retry with it.
    pub async fn release_plex_pin(&self, pin_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM used_plex_pins WHERE pin_id = $1")
            .bind(pin_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops used PINs past their expiry and counters idle since `idle_before`.
    pub async fn prune_limits(&self, now: i64, idle_before: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM used_plex_pins WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM rate_windows WHERE window_start < $1")
            .bind(idle_before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Runs `job` unless another instance is running the same job right now (PostgreSQL: a
    /// transaction-scoped advisory lock, released when the run ends or its connection dies).
    /// SQLite serves one process, which runs everything. `None` when skipped.
    pub async fn run_alone<T>(
        &self,
        which: Job,
        job: impl Future<Output = T>,
    ) -> Result<Option<T>, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(job.await));
        }
        let mut tx = self.pool.begin().await?;
        let got: bool = sqlx::query("SELECT pg_try_advisory_xact_lock($1)")
            .bind(which as i64)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        if !got {
            tracing::debug!(job = ?which, "background job running on another instance: skipped");
            return Ok(None);
        }
        let out = job.await;
        tx.commit().await?;
        Ok(Some(out))
    }
}
