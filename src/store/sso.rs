//! What single sign-on set for each session (table `session_sso`): one row per app instance,
//! with the cookies as they were set (never their values) and the encrypted localStorage items.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Store, StoreError};
use crate::domain::now;

/// A cookie as it was set, so sign-out can delete exactly it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieRecord {
    pub name: String,
    pub domain: Option<String>,
    pub path: String,
    pub http_only: bool,
    pub expires_at: Option<i64>,
}

/// One app instance's SSO outcome for a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsoRecord {
    pub app: String,
    pub instance: String,
    pub ok: bool,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub cookies: Vec<CookieRecord>,
    /// localStorage items, encrypted with the instance key (never serialized out).
    #[serde(skip)]
    pub storage: Option<String>,
    pub used_fallback: bool,
    pub elapsed_ms: i64,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

const COLUMNS: &str =
    "app, instance, ok, error_code, error, cookies, storage, used_fallback, elapsed_ms, created_at, expires_at";

fn from_row(r: &AnyRow) -> Result<SsoRecord, StoreError> {
    let cookies: String = r.try_get(5)?;
    Ok(SsoRecord {
        app: r.try_get(0)?,
        instance: r.try_get(1)?,
        ok: r.try_get::<i64, _>(2)? != 0,
        error_code: r.try_get(3)?,
        error: r.try_get(4)?,
        cookies: serde_json::from_str(&cookies).unwrap_or_default(),
        storage: r.try_get(6)?,
        used_fallback: r.try_get::<i64, _>(7)? != 0,
        elapsed_ms: r.try_get(8)?,
        created_at: r.try_get(9)?,
        expires_at: r.try_get(10)?,
    })
}

impl Store {
    /// Replaces what SSO set for a session (a login's or a refresh's outcome), in one transaction.
    pub async fn replace_session_sso(
        &self,
        session_id: i64,
        records: &[SsoRecord],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM session_sso WHERE session_id = $1")
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        for r in records {
            let cookies = serde_json::to_string(&r.cookies).unwrap_or_else(|_| "[]".into());
            sqlx::query(&format!(
                "INSERT INTO session_sso (session_id, {COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ))
            .bind(session_id)
            .bind(&r.app)
            .bind(&r.instance)
            .bind(r.ok as i64)
            .bind(r.error_code.as_deref())
            .bind(r.error.as_deref())
            .bind(cookies)
            .bind(r.storage.as_deref())
            .bind(r.used_fallback as i64)
            .bind(r.elapsed_ms)
            .bind(if r.created_at == 0 {
                now()
            } else {
                r.created_at
            })
            .bind(r.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What SSO set for the session with this token hash, in the order it was recorded.
    pub async fn session_sso(&self, token_hash: &str) -> Result<Vec<SsoRecord>, StoreError> {
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("x.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM session_sso x JOIN sessions s ON s.id = x.session_id \
             WHERE s.token_hash = $1 ORDER BY x.id"
        ))
        .bind(token_hash)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }
}
