//! Stored run-time settings (key → JSON text).

use std::collections::BTreeMap;

use sqlx::Row;

use super::changes::{record, ChangeKind};
use super::{audit, Actor, Store, StoreError};
use crate::domain::now;

/// Sets one stored setting (JSON text, secrets already encrypted).
pub(super) async fn upsert_setting(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    key: &str,
    value: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Every stored setting (values as stored: JSON text, secrets still encrypted).
    pub async fn load_settings(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT key, value FROM settings")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect())
    }

    /// Writes several settings in one transaction; `None` removes a key (back to its default).
    /// `audited` lists the keys with the value to show in the audit log (secrets masked by the caller).
    pub async fn save_settings(
        &self,
        values: &[(&str, Option<String>)],
        audited: serde_json::Value,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        for (key, value) in values {
            match value {
                Some(v) => upsert_setting(&mut tx, key, v, t).await?,
                None => {
                    sqlx::query("DELETE FROM settings WHERE key = $1")
                        .bind(*key)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        audit(&mut tx, actor, "settings.update", None, Some(audited)).await?;
        record(&mut tx, ChangeKind::Settings, "*").await?;
        tx.commit().await?;
        Ok(())
    }
}
