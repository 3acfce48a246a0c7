//! Authorization codes and the tokens they become (src/oidc/). Everything is keyed by the hex
//! SHA-256 of the value handed out; the values themselves are never stored. Each "spend" is one
//! conditional UPDATE, so a code or refresh token is spent once across every instance.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Store, StoreError};
use crate::domain::{GroupId, UserId};

/// What a code or token was issued for: the person, the Usher session, the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    pub user_id: UserId,
    /// Hex SHA-256 of the Usher session's cookie token.
    pub session_hash: String,
    /// The person's group when it was issued.
    pub group_id: GroupId,
    pub scope: String,
    pub auth_time: i64,
}

/// A new authorization code.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub code_hash: String,
    pub grant: Grant,
    pub redirect_uri: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
}

/// A code as stored.
#[derive(Debug, Clone)]
pub struct StoredCode {
    pub grant: Grant,
    /// Already exchanged once.
    pub used: bool,
    pub redirect_uri: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
}

/// A token as stored, with whether what it hangs on still holds.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub kind: String,
    pub grant_id: String,
    pub grant: Grant,
    pub expires_at: i64,
    pub used: bool,
    /// The Usher session still exists and is unexpired, the person is not locked, not demoted
    /// since the token was issued, and still admitted by the client.
    pub live: bool,
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub token_hash: String,
    pub kind: &'static str,
    pub expires_at: i64,
}

const GRANT_COLUMNS: &str = "client_id, user_id, session_hash, group_id, scope, auth_time";

fn grant_from(r: &AnyRow, at: usize) -> Result<Grant, sqlx::Error> {
    Ok(Grant {
        client_id: r.try_get(at)?,
        user_id: r.try_get(at + 1)?,
        session_hash: r.try_get(at + 2)?,
        group_id: r.try_get(at + 3)?,
        scope: r.try_get(at + 4)?,
        auth_time: r.try_get(at + 5)?,
    })
}

impl Store {
    /// Stores a new code.
    pub async fn add_oidc_code(&self, c: &NewCode) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO oidc_codes (code_hash, {GRANT_COLUMNS}, redirect_uri, nonce, code_challenge, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&c.code_hash)
        .bind(&c.grant.client_id)
        .bind(c.grant.user_id)
        .bind(&c.grant.session_hash)
        .bind(c.grant.group_id)
        .bind(&c.grant.scope)
        .bind(c.grant.auth_time)
        .bind(&c.redirect_uri)
        .bind(c.nonce.as_deref())
        .bind(c.code_challenge.as_deref())
        .bind(c.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A code by hash.
    pub async fn oidc_code(&self, code_hash: &str) -> Result<Option<StoredCode>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS}, redirect_uri, nonce, code_challenge, expires_at, used_at \
             FROM oidc_codes WHERE code_hash = $1"
        ))
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StoredCode {
            grant: grant_from(&r, 0)?,
            redirect_uri: r.try_get(6)?,
            nonce: r.try_get(7)?,
            code_challenge: r.try_get(8)?,
            expires_at: r.try_get(9)?,
            used: r.try_get::<Option<i64>, _>(10)?.is_some(),
        }))
    }

    /// Spends a code and stores the tokens it became, in one transaction; false (nothing
    /// stored) when it was spent before, by a concurrent request too.
    pub async fn redeem_oidc_code(
        &self,
        code_hash: &str,
        grant_id: &str,
        grant: &Grant,
        tokens: &[NewToken],
        at: i64,
    ) -> Result<bool, StoreError> {
        let spend = "UPDATE oidc_codes SET used_at = $1, grant_id = $2 \
                     WHERE code_hash = $3 AND used_at IS NULL";
        self.spend_and_store(spend, code_hash, grant_id, grant, tokens, at)
            .await
    }

    /// Runs `spend` (binds: time, grant id, hash) and, when it changed a row, stores `tokens`
    /// in the same transaction. PostgreSQL: a concurrent spend waits on the row, then finds it
    /// spent; SQLite: the write lock orders them.
    async fn spend_and_store(
        &self,
        spend: &str,
        hash: &str,
        grant_id: &str,
        grant: &Grant,
        tokens: &[NewToken],
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let spent = sqlx::query(spend)
            .bind(at)
            .bind(grant_id)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        if spent.rows_affected() == 0 {
            return Ok(false);
        }
        insert_tokens(&mut tx, grant_id, grant, tokens, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A code used a second time: revokes every token its first use issued.
    pub async fn revoke_code_grant(&self, code_hash: &str) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "DELETE FROM oidc_tokens WHERE grant_id = (SELECT grant_id FROM oidc_codes WHERE code_hash = $1)",
        )
        .bind(code_hash)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// A token by hash, with whether what it hangs on still holds at `at` (one indexed query:
    /// the store is shared, so a revoke on any instance counts here at once).
    pub async fn oidc_token(
        &self,
        token_hash: &str,
        at: i64,
    ) -> Result<Option<StoredToken>, StoreError> {
        let row = sqlx::query(
            "SELECT t.kind, t.grant_id, t.client_id, t.user_id, t.session_hash, t.group_id, t.scope, t.auth_time, \
             t.expires_at, t.used_at, \
             CASE WHEN s.id IS NOT NULL AND s.expires_at > $2 AND u.locked = 0 AND u.group_id <= t.group_id \
                  AND u.group_id <= c.max_group THEN 1 ELSE 0 END \
             FROM oidc_tokens t JOIN users u ON u.id = t.user_id JOIN oidc_clients c ON c.id = t.client_id \
             LEFT JOIN sessions s ON s.token_hash = t.session_hash WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StoredToken {
            kind: r.try_get(0)?,
            grant_id: r.try_get(1)?,
            grant: grant_from(&r, 2)?,
            expires_at: r.try_get(8)?,
            used: r.try_get::<Option<i64>, _>(9)?.is_some(),
            live: r.try_get::<i64, _>(10)? != 0,
        }))
    }

    /// Whether a grant's Usher session and person still hold (for a code about to be exchanged).
    pub async fn oidc_grant_live(&self, grant: &Grant, at: i64) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id JOIN oidc_clients c ON c.id = $3 \
             WHERE s.token_hash = $1 AND s.user_id = $2 AND s.expires_at > $4 AND u.locked = 0 \
             AND u.group_id <= $5 AND u.group_id <= c.max_group",
        )
        .bind(&grant.session_hash)
        .bind(grant.user_id)
        .bind(&grant.client_id)
        .bind(at)
        .bind(grant.group_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// When the unexpired Usher session with this token hash began: the `auth_time` of what it
    /// signs in to.
    pub async fn session_started(
        &self,
        session_hash: &str,
        at: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT created_at FROM sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(session_hash)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Rotates a refresh token: spends it and stores its grant's new tokens in one
    /// transaction; false (nothing stored) when it was spent before, by a concurrent request too.
    pub async fn rotate_oidc_refresh(
        &self,
        token_hash: &str,
        grant_id: &str,
        grant: &Grant,
        tokens: &[NewToken],
        at: i64,
    ) -> Result<bool, StoreError> {
        let spend = "UPDATE oidc_tokens SET used_at = $1 \
                     WHERE grant_id = $2 AND token_hash = $3 AND kind = 'refresh' AND used_at IS NULL";
        self.spend_and_store(spend, token_hash, grant_id, grant, tokens, at)
            .await
    }

    /// Deletes every token of a grant (reuse of a code or a rotated refresh token, revocation).
    pub async fn revoke_oidc_grant(&self, grant_id: &str) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM oidc_tokens WHERE grant_id = $1")
            .bind(grant_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// Deletes one token.
    pub async fn revoke_oidc_token(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM oidc_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops codes and tokens past their time, and retired keys no longer published.
    pub async fn purge_oidc(&self, at: i64) -> Result<(), StoreError> {
        for sql in [
            "DELETE FROM oidc_codes WHERE expires_at < $1",
            "DELETE FROM oidc_tokens WHERE expires_at < $1",
            "DELETE FROM oidc_keys WHERE retired_at IS NOT NULL AND publish_until < $1",
        ] {
            sqlx::query(sql).bind(at).execute(&self.pool).await?;
        }
        Ok(())
    }
}

async fn insert_tokens(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    grant_id: &str,
    grant: &Grant,
    tokens: &[NewToken],
    at: i64,
) -> Result<(), sqlx::Error> {
    for t in tokens {
        sqlx::query(&format!(
            "INSERT INTO oidc_tokens (token_hash, kind, grant_id, {GRANT_COLUMNS}, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&t.token_hash)
        .bind(t.kind)
        .bind(grant_id)
        .bind(&grant.client_id)
        .bind(grant.user_id)
        .bind(&grant.session_hash)
        .bind(grant.group_id)
        .bind(&grant.scope)
        .bind(grant.auth_time)
        .bind(at)
        .bind(t.expires_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
