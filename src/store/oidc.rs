//! The OpenID Connect provider's tables: registered clients, each person's subject, signing keys
//! (src/oidc/). Codes and tokens are in `oidc_grants.rs`. Secrets arrive here already hashed and
//! private keys already encrypted: this file only keeps them.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::changes::{record, ChangeKind};
use super::{audit, Actor, Store, StoreError};
use crate::domain::{now, GroupId, UserId};

/// A registered relying party as stored (the secret only as its hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OidcClient {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the secret; `None` for a public client.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    /// People whose group number is at most this may sign in through it.
    pub max_group: GroupId,
    pub allow_http: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What may change on a client, each `None` staying as it is (also the body of
/// `PATCH /api/v2/oidc/clients/{id}`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcClientPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    #[serde(rename = "group")]
    pub max_group: Option<GroupId>,
    pub allow_http: Option<bool>,
}

/// A stored signing key (private part encrypted with the instance key).
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub private_key: String,
    pub created_at: i64,
    /// `None` while it is the signing key.
    pub retired_at: Option<i64>,
}

const CLIENT_COLUMNS: &str =
    "id, name, secret_hash, redirect_uris, max_group, allow_http, created_at, updated_at";

fn client_from_row(r: &AnyRow) -> Result<OidcClient, sqlx::Error> {
    let secret_hash: Option<String> = r.try_get(2)?;
    let uris: String = r.try_get(3)?;
    Ok(OidcClient {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        public: secret_hash.is_none(),
        secret_hash,
        redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
        max_group: r.try_get(4)?,
        allow_http: r.try_get::<i64, _>(5)? != 0,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
    })
}

/// The audit detail of a client: what it is, never its secret.
fn shown(c: &OidcClient) -> serde_json::Value {
    serde_json::json!({
        "name": c.name, "public": c.public, "redirect_uris": c.redirect_uris,
        "max_group": c.max_group, "allow_http": c.allow_http,
    })
}

impl Store {
    /// Registers a client; `Conflict("client_id")` when the id is taken.
    pub async fn create_oidc_client(
        &self,
        c: &OidcClient,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        sqlx::query(
            "INSERT INTO oidc_clients (id, name, secret_hash, redirect_uris, max_group, allow_http, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(c.secret_hash.as_deref())
        .bind(serde_json::to_string(&c.redirect_uris).unwrap_or_default())
        .bind(c.max_group)
        .bind(c.allow_http as i64)
        .bind(t)
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from_write(e) {
            StoreError::Conflict(_) => StoreError::Conflict("client_id"),
            other => other,
        })?;
        audit(
            &mut tx,
            actor,
            "oidc_client.create",
            Some(&c.id),
            Some(shown(c)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every registered client, by id.
    pub async fn oidc_clients(&self) -> Result<Vec<OidcClient>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oidc_clients ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(client_from_row).collect::<Result<_, _>>()?)
    }

    /// One client.
    pub async fn oidc_client(&self, id: &str) -> Result<Option<OidcClient>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(client_from_row).transpose()?)
    }

    /// Changes a client; returns it as it is now.
    pub async fn update_oidc_client(
        &self,
        id: &str,
        patch: &OidcClientPatch,
        actor: &Actor,
    ) -> Result<OidcClient, StoreError> {
        let before = self.oidc_client(id).await?.ok_or(StoreError::NotFound)?;
        let mut after = before.clone();
        if let Some(n) = &patch.name {
            after.name = n.clone();
        }
        if let Some(u) = &patch.redirect_uris {
            after.redirect_uris = u.clone();
        }
        if let Some(g) = patch.max_group {
            after.max_group = g;
        }
        if let Some(h) = patch.allow_http {
            after.allow_http = h;
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE oidc_clients SET name = $1, redirect_uris = $2, max_group = $3, allow_http = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(&after.name)
        .bind(serde_json::to_string(&after.redirect_uris).unwrap_or_default())
        .bind(after.max_group)
        .bind(after.allow_http as i64)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let detail = super::before_after(shown(&before), shown(&after));
        audit(&mut tx, actor, "oidc_client.update", Some(id), Some(detail)).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Replaces a confidential client's secret hash (its tokens stay valid).
    pub async fn set_oidc_client_secret(
        &self,
        id: &str,
        secret_hash: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE oidc_clients SET secret_hash = $1, updated_at = $2 WHERE id = $3 AND secret_hash IS NOT NULL",
        )
        .bind(secret_hash)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        audit(&mut tx, actor, "oidc_client.secret", Some(id), None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a client with its codes and tokens.
    pub async fn delete_oidc_client(&self, id: &str, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // Explicit deletes: SQLite enforces the cascade only with foreign_keys on.
        sqlx::query("DELETE FROM oidc_tokens WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM oidc_codes WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM oidc_clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        audit(&mut tx, actor, "oidc_client.delete", Some(id), None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The person's `sub`, made (from `fresh`) on first use.
    pub async fn oidc_subject(&self, user: UserId, fresh: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO oidc_subjects (user_id, sub, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user)
        .bind(fresh)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT sub FROM oidc_subjects WHERE user_id = $1")
                .bind(user)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Keys to publish at `at`: the signing key(s) and retired ones not yet past their time.
    pub async fn oidc_keys(&self, at: i64) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, private_key, created_at, retired_at FROM oidc_keys \
             WHERE retired_at IS NULL OR publish_until > $1 ORDER BY created_at DESC, kid",
        )
        .bind(at)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredKey {
                    kid: r.try_get(0)?,
                    private_key: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                    retired_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Stores a new signing key. With `retire` the keys signing so far are retired and stay
    /// published until `publish_until`; every instance learns of it through the change feed.
    pub async fn add_oidc_key(
        &self,
        kid: &str,
        private_key: &str,
        retire: Option<i64>,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        if let Some(until) = retire {
            sqlx::query(
                "UPDATE oidc_keys SET retired_at = $1, publish_until = $2 WHERE retired_at IS NULL",
            )
            .bind(t)
            .bind(until)
            .execute(&mut *tx)
            .await?;
            if until <= t {
                // Dropping the previous key at once drops every older one too: only the new
                // key is published.
                sqlx::query("UPDATE oidc_keys SET publish_until = $1 WHERE retired_at IS NOT NULL")
                    .bind(until)
                    .execute(&mut *tx)
                    .await?;
            }
            let detail = serde_json::json!({"kid": kid, "previous_published_until": until});
            audit(&mut tx, actor, "oidc.key_rotate", None, Some(detail)).await?;
        }
        sqlx::query("INSERT INTO oidc_keys (kid, private_key, created_at) VALUES ($1, $2, $3)")
            .bind(kid)
            .bind(private_key)
            .bind(t)
            .execute(&mut *tx)
            .await?;
        record(&mut tx, ChangeKind::OidcKeys, "*").await?;
        tx.commit().await?;
        Ok(())
    }
}
