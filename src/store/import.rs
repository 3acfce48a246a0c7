//! Writes a whole import (groups, users, tabs, settings) in ONE transaction: any failure, a
//! crash included, leaves the database as it was. The caller validated and mapped every row;
//! this file only writes, naming the row when the database refuses it.

use serde_json::json;
use sqlx::Row;

use super::changes::{record, ChangeKind};
use super::settings::upsert_setting;
use super::tabs::append_tab;
use super::{audit, Actor, Store, StoreError, TabFields};
use crate::domain::user::fold;
use crate::domain::{now, GroupId};

/// A group to create, or a built-in one to rename.
#[derive(Debug, Clone)]
pub struct ImportGroup {
    pub id: GroupId,
    pub name: String,
    /// True: insert a new (custom) group; false: rename the existing one.
    pub create: bool,
}

/// A user as imported: the password hash is kept as it is (bcrypt is rehashed at sign-in).
#[derive(Debug, Clone)]
pub struct ImportUser {
    pub username: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub group_id: GroupId,
    pub locked: bool,
    pub image: Option<String>,
    /// Already encrypted with the instance key.
    pub plex_token: Option<String>,
}

/// Everything one import writes.
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    /// Refuse (inside the transaction) when Usher already has a user: the import without `--merge`.
    pub require_empty: bool,
    pub groups: Vec<ImportGroup>,
    /// The group new accounts join, when the import sets it.
    pub default_group: Option<GroupId>,
    pub users: Vec<ImportUser>,
    /// Appended after the existing tabs, in this order.
    pub tabs: Vec<TabFields>,
    /// Setting key and the text to store (JSON, secrets already encrypted).
    pub settings: Vec<(&'static str, String)>,
}

/// Why the import was not written: the row the database refused, or the guard.
#[derive(Debug, thiserror::Error)]
pub enum ImportWriteError {
    #[error("Usher already has {0} user(s)")]
    NotEmpty(i64),
    #[error("{row}: {source}")]
    Row {
        row: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ImportWriteError {
    fn from(e: sqlx::Error) -> Self {
        ImportWriteError::Store(StoreError::Database(e))
    }
}

fn row(name: String) -> impl FnOnce(sqlx::Error) -> ImportWriteError {
    move |e| ImportWriteError::Row {
        row: name,
        source: StoreError::from_write(e),
    }
}

impl Store {
    /// Writes the batch all-or-nothing, with one audit entry and the change-feed entries that
    /// make every running server reload users, tabs and settings.
    pub async fn write_import(
        &self,
        batch: &ImportBatch,
        actor: &Actor,
    ) -> Result<(), ImportWriteError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        if batch.require_empty {
            let users: i64 = sqlx::query("SELECT COUNT(*) FROM users")
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            if users > 0 {
                return Err(ImportWriteError::NotEmpty(users));
            }
        }
        for g in &batch.groups {
            let query = if g.create {
                sqlx::query(
                    "INSERT INTO groups (id, name, name_lc, is_default, created_at) VALUES ($1, $2, $3, 0, $4)",
                )
                .bind(g.id)
                .bind(&g.name)
                .bind(fold(&g.name))
                .bind(t)
            } else {
                sqlx::query("UPDATE groups SET name = $1, name_lc = $2 WHERE id = $3")
                    .bind(&g.name)
                    .bind(fold(&g.name))
                    .bind(g.id)
            };
            query
                .execute(&mut *tx)
                .await
                .map_err(row(format!("group {} {}", g.id, g.name)))?;
        }
        if let Some(id) = batch.default_group {
            sqlx::query("UPDATE groups SET is_default = CASE WHEN id = $1 THEN 1 ELSE 0 END")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for u in &batch.users {
            let inserted = sqlx::query(
                "INSERT INTO users (username, username_lc, email, email_lc, password_hash, group_id, locked, image, plex_token, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
            )
            .bind(&u.username)
            .bind(fold(&u.username))
            .bind(u.email.as_deref())
            .bind(u.email.as_deref().map(fold))
            .bind(u.password_hash.as_deref())
            .bind(u.group_id)
            .bind(u.locked as i64)
            .bind(u.image.as_deref())
            .bind(u.plex_token.as_deref())
            .bind(t)
            .fetch_one(&mut *tx)
            .await
            .map_err(row(format!("user {}", u.username)))?;
            let id: i64 = inserted
                .try_get(0)
                .map_err(row(format!("user {}", u.username)))?;
            // The same look-alike guard as every other way an account is made.
            super::names::claim_name(&mut tx, id, &u.username, false, actor)
                .await
                .map_err(|source| ImportWriteError::Row {
                    row: format!("user {}", u.username),
                    source,
                })?;
        }
        for f in &batch.tabs {
            append_tab(&mut tx, f, t)
                .await
                .map_err(row(format!("tab {}", f.name)))?;
        }
        for (key, value) in &batch.settings {
            upsert_setting(&mut tx, key, value, t)
                .await
                .map_err(row(format!("setting {key}")))?;
        }
        let keys: Vec<&str> = batch.settings.iter().map(|(k, _)| *k).collect();
        let detail = json!({
            "groups": batch.groups.len(),
            "users": batch.users.iter().map(|u| &u.username).collect::<Vec<_>>(),
            "tabs": batch.tabs.len(),
            "settings": keys,
        });
        audit(&mut tx, actor, "import.organizr", None, Some(detail)).await?;
        record(&mut tx, ChangeKind::User, "*").await?;
        record(&mut tx, ChangeKind::Tabs, "*").await?;
        record(&mut tx, ChangeKind::Settings, "*").await?;
        tx.commit().await?;
        Ok(())
    }
}
