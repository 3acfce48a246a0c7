//! Users and groups.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::changes::{record, ChangeKind};
use super::names::{claim_name, retire_names};
use super::{audit, Actor, Store, StoreError};
use crate::domain::user::fold;
use crate::domain::{now, Group, GroupId, NewUser, User, UserId};

pub(super) const USER_COLUMNS: &str = "u.id, u.username, u.email, u.group_id, g.name, u.locked, u.image, u.created_at, u.password_hash, u.plex_id";

pub(super) fn user_from_row(r: &AnyRow) -> Result<(User, Option<String>), sqlx::Error> {
    let hash: Option<String> = r.try_get(8)?;
    Ok((
        User {
            id: r.try_get(0)?,
            username: r.try_get(1)?,
            email: r.try_get(2)?,
            group_id: r.try_get(3)?,
            group_name: r.try_get(4)?,
            locked: r.try_get::<i64, _>(5)? != 0,
            image: r.try_get(6)?,
            created_at: r.try_get(7)?,
            has_password: hash.is_some(),
            plex_id: r.try_get(9)?,
        },
        hash,
    ))
}

/// How a password (or its hash) appears in the audit log.
const MASK: &str = "********";

/// A user's row inside a transaction (for the audit log's before and after).
async fn user_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: UserId,
) -> Result<Option<User>, sqlx::Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN groups g ON g.id = u.group_id WHERE u.id = $1"
    );
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    Ok(row.map(|r| user_from_row(&r)).transpose()?.map(|(u, _)| u))
}

/// The named fields of a user as the audit log shows them: a password only as a mask.
fn shown_fields(user: &User, fields: &[&str]) -> serde_json::Value {
    let shown = fields.iter().map(|&f| {
        let v = match f {
            "username" => json!(user.username),
            "email" => json!(user.email),
            "group_id" => json!(user.group_id),
            "locked" => json!(user.locked),
            "image" => json!(user.image),
            _ => json!(MASK),
        };
        (f.to_string(), v)
    });
    serde_json::Value::Object(shown.collect())
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub username: Option<String>,
    pub email: Option<Option<String>>,
    pub group_id: Option<GroupId>,
    pub locked: Option<bool>,
    pub password_hash: Option<String>,
    pub image: Option<Option<String>>,
    /// With a new `username`: an administrator gives a retired name to this account on purpose.
    pub reuse_retired_name: bool,
}

impl Store {
    /// Creates a user; `Conflict("username"|"email")` when taken (case-insensitively),
    /// `NameTaken` when the name looks like a held or retired one.
    pub async fn create_user(&self, new: &NewUser, actor: &Actor) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        let row = sqlx::query(
            "INSERT INTO users (username, username_lc, email, email_lc, password_hash, group_id, locked, image, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $8) RETURNING id",
        )
        .bind(&new.username)
        .bind(fold(&new.username))
        .bind(new.email.as_deref())
        .bind(new.email.as_deref().map(fold))
        .bind(new.password_hash.as_deref())
        .bind(new.group_id)
        .bind(new.image.as_deref())
        .bind(t)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        let id: i64 = row.try_get(0)?;
        claim_name(&mut tx, id, &new.username, new.reuse_retired_name, actor).await?;
        let detail = json!({
            "username": new.username,
            "group_id": new.group_id,
            "after": {"username": new.username, "email": new.email, "group_id": new.group_id,
                      "password": new.password_hash.as_ref().map(|_| MASK)},
        });
        audit(
            &mut tx,
            actor,
            "user.create",
            Some(&id.to_string()),
            Some(detail),
        )
        .await?;
        tx.commit().await?;
        self.get_user(id).await?.ok_or(StoreError::NotFound)
    }

    /// One user by id.
    pub async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u JOIN groups g ON g.id = u.group_id WHERE u.id = $1"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| user_from_row(&r)).transpose()?.map(|(u, _)| u))
    }

    /// One user by username, case-insensitively.
    pub async fn find_user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u JOIN groups g ON g.id = u.group_id WHERE u.username_lc = $1");
        let row = sqlx::query(&sql)
            .bind(fold(username))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| user_from_row(&r)).transpose()?.map(|(u, _)| u))
    }

    /// The user a sign-in names (by username or email, case-insensitively) with the password hash.
    pub async fn find_user_for_login(
        &self,
        login: &str,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u JOIN groups g ON g.id = u.group_id \
             WHERE u.username_lc = $1 OR u.email_lc = $1 ORDER BY (u.username_lc = $1) DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(fold(login))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| user_from_row(&r)).transpose()?)
    }

    /// Every user, by username.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u JOIN groups g ON g.id = u.group_id ORDER BY u.username_lc");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| user_from_row(r).map(|(u, _)| u).map_err(Into::into))
            .collect()
    }

    /// Number of unlocked users in group 0: Usher refuses changes that would leave none.
    pub async fn count_active_admins(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM users WHERE group_id = 0 AND locked = 0")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Applies a patch; records `action` in the audit log and tells every cache.
    pub async fn update_user(
        &self,
        id: UserId,
        patch: &UserPatch,
        action: &str,
        actor: &Actor,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        let before = user_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        let t = now();
        let mut changed = Vec::new();
        if let Some(name) = &patch.username {
            sqlx::query(
                "UPDATE users SET username = $1, username_lc = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(name)
            .bind(fold(name))
            .bind(t)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            claim_name(&mut tx, id, name, patch.reuse_retired_name, actor).await?;
            retire_names(&mut tx, id, Some(name)).await?;
            changed.push("username");
        }
        if let Some(email) = &patch.email {
            sqlx::query(
                "UPDATE users SET email = $1, email_lc = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(email.as_deref())
            .bind(email.as_deref().map(fold))
            .bind(t)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            changed.push("email");
        }
        if let Some(group) = patch.group_id {
            sqlx::query("UPDATE users SET group_id = $1, updated_at = $2 WHERE id = $3")
                .bind(group)
                .bind(t)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            changed.push("group_id");
        }
        if let Some(locked) = patch.locked {
            sqlx::query("UPDATE users SET locked = $1, updated_at = $2 WHERE id = $3")
                .bind(locked as i64)
                .bind(t)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            changed.push("locked");
        }
        if let Some(hash) = &patch.password_hash {
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(t)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            changed.push("password");
        }
        if let Some(image) = &patch.image {
            sqlx::query("UPDATE users SET image = $1, updated_at = $2 WHERE id = $3")
                .bind(image.as_deref())
                .bind(t)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            changed.push("image");
        }
        let after = user_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        let detail = json!({
            "fields": changed,
            "group_id": patch.group_id,
            "locked": patch.locked,
            "before": shown_fields(&before, &changed),
            "after": shown_fields(&after, &changed),
        });
        audit(&mut tx, actor, action, Some(&id.to_string()), Some(detail)).await?;
        record(&mut tx, ChangeKind::User, &id.to_string()).await?;
        tx.commit().await?;
        self.get_user(id).await?.ok_or(StoreError::NotFound)
    }

    /// Replaces a password hash without auditing (transparent rehash after a bcrypt sign-in).
    pub async fn rehash_password(
        &self,
        id: UserId,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
            .bind(new_hash)
            .bind(id)
            .bind(old_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a user and (by cascade) their sessions.
    pub async fn delete_user(&self, id: UserId, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let before = user_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        // The name stays claimed, retired: apps behind Usher may still know the person by it.
        retire_names(&mut tx, id, None).await?;
        // Sessions first: SQLite enforces ON DELETE CASCADE only with foreign_keys on, PostgreSQL always.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let all = ["username", "email", "group_id", "locked"];
        let detail = json!({ "before": shown_fields(&before, &all) });
        audit(
            &mut tx,
            actor,
            "user.delete",
            Some(&id.to_string()),
            Some(detail),
        )
        .await?;
        record(&mut tx, ChangeKind::User, &id.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every group, by number.
    pub async fn list_groups(&self) -> Result<Vec<Group>, StoreError> {
        let rows = sqlx::query("SELECT id, name, is_default FROM groups ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Group {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    is_default: r.try_get::<i64, _>(2)? != 0,
                })
            })
            .collect()
    }

    /// The group new accounts join.
    pub async fn default_group(&self) -> Result<GroupId, StoreError> {
        let row = sqlx::query("SELECT id FROM groups WHERE is_default = 1 ORDER BY id LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<i64, _>(0)).unwrap_or(4))
    }
}
