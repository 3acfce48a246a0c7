//! The change feed: rows every process appends and every server follows, so a change made by the
//! CLI or another instance reaches each cache. On PostgreSQL every append also notifies the
//! `usher_changes` channel (delivered at commit), which wakes the other instances at once; the
//! poll stays as the safety net.

use sqlx::Row;

use super::{Store, StoreError};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A user's row (subject: user id): drop every cached session of that user.
    User,
    /// One session (subject: token hash hex): drop it from the cache.
    Session,
    /// Settings (subject: `*`): reload the snapshot.
    Settings,
    /// Tabs (subject: `*`): reload the tab-name index of proxy auth.
    Tabs,
    /// OpenID Connect signing keys (subject: `*`): reload them (a key was made or rotated).
    OidcKeys,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ChangeKind::User => "user",
            ChangeKind::Session => "session",
            ChangeKind::Settings => "settings",
            ChangeKind::Tabs => "tabs",
            ChangeKind::OidcKeys => "oidc_keys",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => ChangeKind::User,
            "session" => ChangeKind::Session,
            "settings" => ChangeKind::Settings,
            "tabs" => ChangeKind::Tabs,
            "oidc_keys" => ChangeKind::OidcKeys,
            _ => return None,
        })
    }
}

/// The PostgreSQL notification channel that announces new feed rows.
pub const CHANNEL: &str = "usher_changes";

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: i64,
    /// When it was appended (epoch seconds; before its transaction committed).
    pub at: i64,
    pub kind: ChangeKind,
    pub subject: String,
}

/// Appends to the feed inside a transaction.
pub(super) async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: ChangeKind,
    subject: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO changes (at, kind, subject) VALUES ($1, $2, $3)")
        .bind(crate::domain::now())
        .bind(kind.as_str())
        .bind(subject)
        .execute(&mut **tx)
        .await?;
    if tx.backend_name() == "PostgreSQL" {
        // Delivered when the transaction commits; identical payloads in one transaction fold.
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// The newest change id (0 when empty): where a fresh process starts following.
    pub async fn latest_change_id(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT MAX(id) FROM changes")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
    }

    /// Changes after id `after`, and every change appended since `since` (epoch seconds) whatever
    /// its id, oldest first. The second part finds rows whose transaction committed after a
    /// later id's (PostgreSQL hands out ids at insert, not at commit).
    pub async fn changes_since(&self, after: i64, since: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, kind, subject FROM changes WHERE id > $1 OR at >= $2 ORDER BY id LIMIT 1000",
        )
        .bind(after)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(Change {
                    id: r.get(0),
                    at: r.get(1),
                    kind: ChangeKind::parse(&r.get::<String, _>(2))?,
                    subject: r.get(3),
                })
            })
            .collect())
    }

    /// Forgets feed entries older than `before` (epoch seconds).
    pub async fn prune_changes(&self, before: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM changes WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}

/// A connection that waits for the feed's notifications (PostgreSQL only).
pub struct ChangeListener {
    inner: sqlx::postgres::PgListener,
}

impl ChangeListener {
    /// Connects to `url` and listens on [`CHANNEL`].
    pub async fn connect(url: &str) -> Result<ChangeListener, StoreError> {
        let mut inner = sqlx::postgres::PgListener::connect(url).await?;
        inner.listen(CHANNEL).await?;
        Ok(ChangeListener { inner })
    }

    /// Waits for the next notification: `Ok(true)` when one came, `Ok(false)` when the
    /// connection was lost (what was sent meanwhile is lost too; the next call reconnects).
    pub async fn next(&mut self) -> Result<bool, StoreError> {
        Ok(self.inner.try_recv().await?.is_some())
    }
}
