//! Name claims: every account's username holds its look-alike key
//! ([`name_key`]), written in the same transaction as the user row, so two names that render
//! alike can never both be held, even by two requests at once (the key is the primary key).
//! A deleted or renamed account's claim stays, retired: apps behind Usher key on the name, and a
//! new account must not inherit the old person's identity there unless an administrator says so.
//!
//! Must never: let a claim be taken over silently (only `reuse_retired` moves a retired one, and
//! that is audited), nor leave a user row without its claim after a create or a rename.

use serde_json::json;
use sqlx::Row;

use super::{audit, Actor, Store, StoreError};
use crate::domain::names::{has_list_separator, name_key};
use crate::domain::{now, UserId};

/// Who holds a look-alike key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameClaim {
    /// The name as it was last held.
    pub name: String,
    /// The holder, or the last holder of a retired claim (`None` once that account is deleted).
    pub user_id: Option<UserId>,
    /// True when the account that held it was deleted or renamed.
    pub retired: bool,
}

async fn claim_of<'e, E>(db: E, key: &str) -> Result<Option<NameClaim>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT name, user_id, retired_at FROM name_claims WHERE name_key = $1")
        .bind(key)
        .fetch_optional(db)
        .await?;
    row.map(|r| {
        let user_id: Option<i64> = r.try_get(1)?;
        let retired_at: Option<i64> = r.try_get(2)?;
        Ok(NameClaim {
            name: r.try_get(0)?,
            user_id,
            retired: retired_at.is_some() || user_id.is_none(),
        })
    })
    .transpose()
}

/// Makes `user_id` hold the key of `name`: a free key is claimed; the user's own (held or
/// retired) is taken back; a retired one of somebody else only with `reuse_retired`.
/// `NameTaken` otherwise.
pub(super) async fn claim_name(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: UserId,
    name: &str,
    reuse_retired: bool,
    actor: &Actor,
) -> Result<(), StoreError> {
    let key = name_key(name);
    let t = now();
    match claim_of(&mut **tx, &key).await? {
        None => {
            sqlx::query("INSERT INTO name_claims (name_key, name, user_id, retired_at, created_at) VALUES ($1, $2, $3, NULL, $4)")
                .bind(&key)
                .bind(name)
                .bind(user_id)
                .bind(t)
                .execute(&mut **tx)
                .await
                .map_err(StoreError::from_write)?;
            return Ok(());
        }
        Some(claim) if claim.user_id == Some(user_id) => {}
        Some(claim) if !claim.retired || !reuse_retired => {
            return Err(StoreError::NameTaken {
                name: claim.name,
                retired: claim.retired,
            });
        }
        Some(claim) => {
            let detail =
                json!({ "name": name, "retired_name": claim.name, "last_holder": claim.user_id });
            audit(
                tx,
                actor,
                "user.reuse_name",
                Some(&user_id.to_string()),
                Some(detail),
            )
            .await?;
        }
    }
    sqlx::query(
        "UPDATE name_claims SET name = $1, user_id = $2, retired_at = NULL WHERE name_key = $3",
    )
    .bind(name)
    .bind(user_id)
    .bind(&key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Retires the claims a user holds, except the key of `keeping` (their new name).
pub(super) async fn retire_names(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: UserId,
    keeping: Option<&str>,
) -> Result<(), sqlx::Error> {
    let keep = keeping.map(name_key).unwrap_or_default();
    sqlx::query(
        "UPDATE name_claims SET retired_at = $1 WHERE user_id = $2 AND retired_at IS NULL AND name_key <> $3",
    )
    .bind(now())
    .bind(user_id)
    .bind(keep)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Who holds the look-alike key of `name`, if anybody (held or retired).
    pub async fn name_claim(&self, name: &str) -> Result<Option<NameClaim>, StoreError> {
        Ok(claim_of(&self.pool, &name_key(name)).await?)
    }

    /// Gives every account without a claim its claim, in one transaction (run at every open;
    /// after the migration that made the table it fills it). Two existing accounts that look
    /// alike both keep working: the older one holds the key, and the pair is logged for an
    /// administrator to rename one.
    pub(super) async fn backfill_name_claims(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT u.id, u.username FROM users u WHERE NOT EXISTS \
             (SELECT 1 FROM name_claims c WHERE c.user_id = u.id AND c.retired_at IS NULL) ORDER BY u.id",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            let (id, name): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
            match claim_of(&mut *tx, &name_key(&name)).await? {
                None => claim_name(&mut tx, id, &name, false, &Actor::default()).await?,
                Some(claim) => tracing::warn!(
                    user = %name,
                    user_id = id,
                    looks_like = %claim.name,
                    "this account's name looks like another (held or retired) name; rename one of them"
                ),
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Logs groups whose stored name holds a list separator (refused since; their
    /// `Remote-Groups` header is sent empty until they are renamed).
    pub(super) async fn warn_list_separator_groups(&self) -> Result<(), StoreError> {
        for group in self.list_groups().await? {
            if has_list_separator(&group.name) {
                tracing::warn!(group = group.id, name = %group.name, "group name contains ',' or ';': Remote-Groups is sent empty for its members until it is renamed");
            }
        }
        Ok(())
    }
}
