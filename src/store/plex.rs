//! Users linked to Plex accounts: lookup by Plex id or e-mail, linking, creation, and revoking the
//! sessions a Plex sign-in made.

use serde_json::json;
use sqlx::Row;

use super::changes::{record, ChangeKind};
use super::users::{user_from_row, USER_COLUMNS};
use super::{audit, Actor, Store, StoreError};
use crate::domain::user::fold;
use crate::domain::{now, GroupId, User, UserId};

/// What a Plex sign-in writes on the user it resolved to.
#[derive(Debug, Clone)]
pub struct PlexLink {
    pub plex_id: i64,
    pub plex_username: String,
    /// The user's Plex token, already encrypted with the instance key.
    pub token_encrypted: String,
    /// `Some` to set the e-mail (only when no other user holds it).
    pub email: Option<String>,
    /// `Some` to replace the avatar.
    pub image: Option<String>,
}

/// A new user made by a first Plex sign-in.
#[derive(Debug, Clone)]
pub struct NewPlexUser {
    pub username: String,
    pub email: Option<String>,
    pub group_id: GroupId,
    pub link: PlexLink,
}

/// The session methods a Plex sign-in creates.
const PLEX_METHODS: &str = "('plex_password', 'plex_oauth')";

impl Store {
    /// The user linked to a Plex account id.
    pub async fn find_user_by_plex_id(&self, plex_id: i64) -> Result<Option<User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u JOIN groups g ON g.id = u.group_id WHERE u.plex_id = $1"
        );
        let row = sqlx::query(&sql)
            .bind(plex_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| user_from_row(&r)).transpose()?.map(|(u, _)| u))
    }

    /// The user with this e-mail, case-insensitively.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u JOIN groups g ON g.id = u.group_id WHERE u.email_lc = $1"
        );
        let row = sqlx::query(&sql)
            .bind(fold(email))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| user_from_row(&r)).transpose()?.map(|(u, _)| u))
    }

    /// The user linked to the Plex account with this Plex username (as plex.tv last said it),
    /// case-insensitively in ASCII.
    pub async fn find_user_by_plex_username(
        &self,
        plex_username: &str,
    ) -> Result<Option<UserId>, StoreError> {
        let row = sqlx::query(
            "SELECT id FROM users WHERE plex_username <> '' AND LOWER(plex_username) = $1 ORDER BY id LIMIT 1",
        )
        .bind(plex_username.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get::<i64, _>(0)))
    }

    /// True when a username is taken (case-insensitively).
    pub async fn username_taken(&self, username: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM users WHERE username_lc = $1")
            .bind(fold(username))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Links a user to a Plex account (or refreshes the link); never touches the password.
    pub async fn link_plex(
        &self,
        id: UserId,
        link: &PlexLink,
        actor: &Actor,
    ) -> Result<User, StoreError> {
        // Read before the transaction: in SQLite's WAL mode a transaction that reads first and
        // writes later fails outright (SQLITE_BUSY) when another writer got in between.
        let was_linked: Option<i64> = sqlx::query("SELECT plex_id FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_get(0)?;
        let mut tx = self.begin_write().await?;
        let t = now();
        let updated = sqlx::query(
            "UPDATE users SET plex_id = $1, plex_username = $2, plex_token = $3, plex_seen_at = $4 WHERE id = $5",
        )
        .bind(link.plex_id)
        .bind(&link.plex_username)
        .bind(&link.token_encrypted)
        .bind(t)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(email) = &link.email {
            sqlx::query(
                "UPDATE users SET email = $1, email_lc = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(email)
            .bind(fold(email))
            .bind(t)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
        }
        if let Some(image) = &link.image {
            sqlx::query("UPDATE users SET image = $1 WHERE id = $2")
                .bind(image)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if was_linked != Some(link.plex_id) {
            let detail = json!({"plex_id": link.plex_id, "plex_username": link.plex_username});
            audit(
                &mut tx,
                actor,
                "user.plex_link",
                Some(&id.to_string()),
                Some(detail),
            )
            .await?;
        }
        record(&mut tx, ChangeKind::User, &id.to_string()).await?;
        tx.commit().await?;
        self.get_user(id).await?.ok_or(StoreError::NotFound)
    }

    /// Creates a user for a first Plex sign-in (no local password).
    pub async fn create_plex_user(
        &self,
        new: &NewPlexUser,
        actor: &Actor,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        let link = &new.link;
        let row = sqlx::query(
            "INSERT INTO users (username, username_lc, email, email_lc, password_hash, group_id, locked, image, created_at, updated_at, plex_id, plex_username, plex_token, plex_seen_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, 0, $6, $7, $7, $8, $9, $10, $7) RETURNING id",
        )
        .bind(&new.username)
        .bind(fold(&new.username))
        .bind(new.email.as_deref())
        .bind(new.email.as_deref().map(fold))
        .bind(new.group_id)
        .bind(link.image.as_deref())
        .bind(t)
        .bind(link.plex_id)
        .bind(&link.plex_username)
        .bind(&link.token_encrypted)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        let id: i64 = row.try_get(0)?;
        // Never a retired name: a Plex friend must not inherit a former account's identity.
        super::names::claim_name(&mut tx, id, &new.username, false, actor).await?;
        let detail =
            json!({"username": new.username, "group_id": new.group_id, "plex_id": link.plex_id});
        audit(
            &mut tx,
            actor,
            "user.create_plex",
            Some(&id.to_string()),
            Some(detail),
        )
        .await?;
        tx.commit().await?;
        self.get_user(id).await?.ok_or(StoreError::NotFound)
    }

    /// The encrypted Plex token stored for a user.
    pub async fn plex_token_of(&self, id: UserId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT plex_token FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| r.get::<Option<String>, _>(0)))
    }

    /// Users holding an unexpired session made by a Plex sign-in: `(user id, plex id, Plex username)`.
    pub async fn users_with_plex_sessions(&self) -> Result<Vec<(UserId, i64, String)>, StoreError> {
        let sql = format!(
            "SELECT DISTINCT u.id, u.plex_id, COALESCE(u.plex_username, '') FROM users u JOIN sessions s ON s.user_id = u.id \
             WHERE u.plex_id IS NOT NULL AND s.expires_at > $1 AND s.method IN {PLEX_METHODS}"
        );
        let rows = sqlx::query(&sql).bind(now()).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Ends every session of a user that a Plex sign-in made; tells every cache.
    pub async fn revoke_plex_sessions(
        &self,
        user: UserId,
        reason: &str,
        actor: &Actor,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!("DELETE FROM sessions WHERE user_id = $1 AND method IN {PLEX_METHODS}");
        let r = sqlx::query(&sql).bind(user).execute(&mut *tx).await?;
        let detail = json!({"count": r.rows_affected(), "reason": reason});
        audit(
            &mut tx,
            actor,
            "session.revoke_plex",
            Some(&user.to_string()),
            Some(detail),
        )
        .await?;
        record(&mut tx, ChangeKind::User, &user.to_string()).await?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }
}
