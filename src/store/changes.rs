//! The change feed: rows every process appends and every server polls, so a change made by the
//! CLI or another instance reaches each cache within the poll interval.

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
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ChangeKind::User => "user",
            ChangeKind::Session => "session",
            ChangeKind::Settings => "settings",
            ChangeKind::Tabs => "tabs",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => ChangeKind::User,
            "session" => ChangeKind::Session,
            "settings" => ChangeKind::Settings,
            "tabs" => ChangeKind::Tabs,
            _ => return None,
        })
    }
}

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: i64,
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

    /// Changes after `after`, oldest first.
    pub async fn changes_since(&self, after: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, subject FROM changes WHERE id > $1 ORDER BY id LIMIT 1000",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(Change {
                    id: r.get(0),
                    kind: ChangeKind::parse(&r.get::<String, _>(1))?,
                    subject: r.get(2),
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
