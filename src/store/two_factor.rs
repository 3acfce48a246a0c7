//! Two-factor enrolments and recovery codes. The secret arrives here already encrypted and the
//! recovery codes already hashed; this file only keeps them and makes each use count once.

use sqlx::Row;

use super::changes::{record, ChangeKind};
use super::{audit, Actor, Store, StoreError};
use crate::domain::{now, UserId};

/// A person's two-factor enrolment as stored.
#[derive(Debug, Clone)]
pub struct TwoFactorRecord {
    /// The TOTP secret, encrypted with the instance key.
    pub secret: String,
    /// False while the enrolment waits for its first code.
    pub confirmed: bool,
}

impl Store {
    /// The person's enrolment, pending or confirmed.
    pub async fn two_factor_of(&self, user: UserId) -> Result<Option<TwoFactorRecord>, StoreError> {
        let row = sqlx::query("SELECT secret, confirmed_at FROM two_factor WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(TwoFactorRecord {
            secret: r.try_get(0)?,
            confirmed: r.try_get::<Option<i64>, _>(1)?.is_some(),
        }))
    }

    /// Everyone with two-factor sign-in on (for the Users page).
    pub async fn users_with_two_factor(&self) -> Result<Vec<UserId>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM two_factor WHERE confirmed_at IS NOT NULL")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Starts (or restarts) a pending enrolment; false when two-factor is already on.
    pub async fn begin_two_factor(
        &self,
        user: UserId,
        secret: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "INSERT INTO two_factor (user_id, secret, confirmed_at, last_step, created_at) \
             VALUES ($1, $2, NULL, 0, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at \
             WHERE two_factor.confirmed_at IS NULL",
        )
        .bind(user)
        .bind(secret)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        audit(
            &mut tx,
            actor,
            "two_factor.begin",
            Some(&user.to_string()),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Confirms a pending enrolment with the time step of its first code and stores the hashes of
    /// fresh recovery codes; false when there was no pending enrolment.
    pub async fn confirm_two_factor(
        &self,
        user: UserId,
        step: i64,
        recovery_hashes: &[String],
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE two_factor SET confirmed_at = $1, last_step = $2 \
             WHERE user_id = $3 AND confirmed_at IS NULL",
        )
        .bind(now())
        .bind(step)
        .bind(user)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM two_factor_recovery WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        for hash in recovery_hashes {
            sqlx::query("INSERT INTO two_factor_recovery (user_id, code_hash) VALUES ($1, $2)")
                .bind(user)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        audit(
            &mut tx,
            actor,
            "two_factor.enable",
            Some(&user.to_string()),
            None,
        )
        .await?;
        // Cached sessions learn that this person now has two-factor on.
        record(&mut tx, ChangeKind::User, &user.to_string()).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes the time step of an accepted code: true only when it is later than every step used
    /// before, so a code is never accepted twice (also by two requests at once).
    pub async fn use_two_factor_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE two_factor SET last_step = $1 \
             WHERE user_id = $2 AND last_step < $1 AND confirmed_at IS NOT NULL",
        )
        .bind(step)
        .bind(user)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Uses up a recovery code by its hash: true the first time, false for unknown or used ones.
    pub async fn use_recovery_code(&self, user: UserId, hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE two_factor_recovery SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now())
        .bind(user)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 1 {
            let actor = Actor {
                user_id: Some(user),
                ip: None,
            };
            audit(
                &mut tx,
                &actor,
                "two_factor.recovery_code_used",
                Some(&user.to_string()),
                None,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Turns two-factor off (by the person, or an administrator's reset); false when it was off.
    pub async fn remove_two_factor(
        &self,
        user: UserId,
        action: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query("DELETE FROM two_factor WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM two_factor_recovery WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, actor, action, Some(&user.to_string()), None).await?;
        record(&mut tx, ChangeKind::User, &user.to_string()).await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }
}
