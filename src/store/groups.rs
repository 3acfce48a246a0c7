//! Group administration: rename, custom groups 5–997, the default group. A rename records a
//! `user *` change: every cached session carries its group's name.

use serde_json::json;
use sqlx::Row;

use super::changes::{record, ChangeKind};
use super::{audit, Actor, Store, StoreError};
use crate::domain::user::fold;
use crate::domain::{now, GroupId};

impl Store {
    /// Adds a group; `Conflict("id"|"name")` when either is taken.
    pub async fn create_group(
        &self,
        id: GroupId,
        name: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query("SELECT 1 FROM groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict("id"));
        }
        sqlx::query(
            "INSERT INTO groups (id, name, name_lc, is_default, created_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(id)
        .bind(name)
        .bind(fold(name))
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        let detail = json!({ "name": name });
        audit(
            &mut tx,
            actor,
            "group.create",
            Some(&id.to_string()),
            Some(detail),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Renames a group.
    pub async fn rename_group(
        &self,
        id: GroupId,
        name: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let before = group_name_in(&mut tx, id).await?;
        let r = sqlx::query("UPDATE groups SET name = $1, name_lc = $2 WHERE id = $3")
            .bind(name)
            .bind(fold(name))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let detail = json!({ "name": name, "before": {"name": before}, "after": {"name": name} });
        audit(
            &mut tx,
            actor,
            "group.rename",
            Some(&id.to_string()),
            Some(detail),
        )
        .await?;
        record(&mut tx, ChangeKind::User, "*").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `id` the one default group.
    pub async fn set_default_group(&self, id: GroupId, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT 1 FROM groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE groups SET is_default = CASE WHEN id = $1 THEN 1 ELSE 0 END")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, actor, "group.default", Some(&id.to_string()), None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Number of users in a group.
    pub async fn count_group_members(&self, id: GroupId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM users WHERE group_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Deletes a group nobody is in; `Ok(false)` when somebody is (checked in the transaction).
    pub async fn delete_group(&self, id: GroupId, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let members: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE group_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if members > 0 {
            return Ok(false);
        }
        let before = group_name_in(&mut tx, id).await?;
        let r = sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let detail = json!({ "before": {"name": before} });
        audit(
            &mut tx,
            actor,
            "group.delete",
            Some(&id.to_string()),
            Some(detail),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// A group's name inside a transaction (for the audit log's before).
async fn group_name_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: GroupId,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT name FROM groups WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| r.try_get(0)).transpose()
}
