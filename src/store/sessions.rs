//! Sessions, keyed by the hex SHA-256 of the cookie token.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::changes::{record, ChangeKind};
use super::{audit, Actor, Store, StoreError};
use crate::domain::{now, GroupId, SessionMethod, SessionView, UserId};

/// What is stored for a new session.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: String,
    pub user_id: UserId,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub remember: bool,
    pub method: SessionMethod,
}

/// A session as listed to its owner or an admin (never the token or its hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: i64,
    pub user_id: UserId,
    pub username: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub remember: bool,
    pub method: String,
    #[serde(skip)]
    pub token_hash: String,
    /// The owner's group, for "who may manage whom" (not listed).
    #[serde(skip)]
    pub group_id: GroupId,
}

const INFO_COLUMNS: &str = "s.id, s.user_id, u.username, s.created_at, s.expires_at, s.last_seen_at, s.ip, s.user_agent, s.remember, s.method, s.token_hash, u.group_id";

fn info_from_row(r: &AnyRow) -> Result<SessionInfo, sqlx::Error> {
    Ok(SessionInfo {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        username: r.try_get(2)?,
        created_at: r.try_get(3)?,
        expires_at: r.try_get(4)?,
        last_seen_at: r.try_get(5)?,
        ip: r.try_get(6)?,
        user_agent: r.try_get(7)?,
        remember: r.try_get::<i64, _>(8)? != 0,
        method: r.try_get(9)?,
        token_hash: r.try_get(10)?,
        group_id: r.try_get(11)?,
    })
}

impl Store {
    /// Stores a new session and audits the sign-in.
    pub async fn create_session(&self, s: &NewSession, actor: &Actor) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let t = now();
        let row = sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at, ip, user_agent, remember, method) \
             VALUES ($1, $2, $3, $4, $3, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&s.token_hash)
        .bind(s.user_id)
        .bind(t)
        .bind(s.expires_at)
        .bind(s.ip.as_deref())
        .bind(s.user_agent.as_deref())
        .bind(s.remember as i64)
        .bind(s.method.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get(0)?;
        let detail = serde_json::json!({"method": s.method.as_str(), "remember": s.remember});
        audit(
            &mut tx,
            actor,
            "login.success",
            Some(&s.user_id.to_string()),
            Some(detail),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The cached view of an unexpired session: one indexed query joining sessions, users, groups.
    pub async fn load_session_view(
        &self,
        token_hash: &str,
    ) -> Result<Option<SessionView>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.user_id, u.username, u.email, u.group_id, g.name, u.locked, s.expires_at, s.last_seen_at, \
             s.method, (SELECT COUNT(*) FROM two_factor t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) \
             FROM sessions s JOIN users u ON u.id = s.user_id JOIN groups g ON g.id = u.group_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(
            SessionView::new(
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get(5)?,
                r.try_get::<i64, _>(6)? != 0,
                r.try_get(7)?,
                r.try_get(8)?,
            )
            .with_two_factor(
                r.try_get::<i64, _>(10)? > 0,
                r.try_get::<String, _>(9)?.starts_with("plex_"),
            ),
        ))
    }

    /// Unexpired sessions, of one user or of everybody, newest first.
    pub async fn list_sessions(
        &self,
        user: Option<UserId>,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let sql = format!(
            "SELECT {INFO_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.expires_at > $1 AND ($2 < 0 OR s.user_id = $2) ORDER BY s.id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(now())
            .bind(user.unwrap_or(-1))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| info_from_row(r).map_err(Into::into))
            .collect()
    }

    /// One unexpired session by id.
    pub async fn session_by_id(&self, id: i64) -> Result<Option<SessionInfo>, StoreError> {
        let sql = format!(
            "SELECT {INFO_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.expires_at > $2"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(now())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(info_from_row).transpose()?)
    }

    /// Revokes one session by id (only the owner's when `owner` is given); returns its token hash.
    pub async fn revoke_session(
        &self,
        id: i64,
        owner: Option<UserId>,
        actor: &Actor,
    ) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        // Write first: a read that later upgrades to a write makes concurrent SQLite
        // transactions fail with SQLITE_BUSY instead of waiting their turn.
        let row = sqlx::query(
            "DELETE FROM sessions WHERE id = $1 AND ($2 < 0 OR user_id = $2) \
             RETURNING token_hash, user_id",
        )
        .bind(id)
        .bind(owner.unwrap_or(-1))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let hash: String = row.try_get(0)?;
        let user_id: i64 = row.try_get(1)?;
        audit(
            &mut tx,
            actor,
            "session.revoke",
            Some(&user_id.to_string()),
            Some(serde_json::json!({"session_id": id})),
        )
        .await?;
        record(&mut tx, ChangeKind::Session, &hash).await?;
        tx.commit().await?;
        Ok(hash)
    }

    /// Ends the session with this token hash (sign-out); false when there was none.
    pub async fn end_session(&self, token_hash: &str, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let user_id: i64 = row.try_get(0)?;
        audit(
            &mut tx,
            actor,
            "session.logout",
            Some(&user_id.to_string()),
            None,
        )
        .await?;
        record(&mut tx, ChangeKind::Session, token_hash).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes every session of a user, optionally keeping one (by id); returns how many ended.
    pub async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<i64>,
        actor: &Actor,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user)
            .bind(keep.unwrap_or(-1))
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            actor,
            "session.revoke_all",
            Some(&user.to_string()),
            Some(serde_json::json!({"count": r.rows_affected()})),
        )
        .await?;
        record(&mut tx, ChangeKind::User, &user.to_string()).await?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }

    /// Writes batched last-seen times.
    pub async fn touch_sessions(&self, seen: &[(String, i64)]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (hash, at) in seen {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 AND last_seen_at < $1",
            )
            .bind(at)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes expired sessions.
    pub async fn purge_expired_sessions(&self) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}
