//! Following the change feed: how a server learns what the CLI or another instance changed
//! (a revoked session, a locked user, new settings or tabs) and drops what it cached.
//!
//! On PostgreSQL a notification on the feed's channel wakes the follower at once; a poll every
//! `change_poll` is the safety net for a lost notification or a dropped listening connection,
//! and the only way on SQLite. Each read also takes every row appended in the last [`WINDOW`]
//! seconds, whatever its id: PostgreSQL hands out ids at insert, so a transaction can commit
//! after one with a later id, and a follower that only asked for "ids above the last one" would
//! never see it. Applying a row twice is harmless (invalidation and reloads are idempotent), so
//! the follower only remembers which rows of the window it applied, to avoid needless reloads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::store::{Change, ChangeListener};

/// How far back each read looks for rows that committed late (seconds).
pub const WINDOW: i64 = 10;

/// Where a server stands in the feed.
#[derive(Debug, Default)]
pub struct Follower {
    /// The highest id applied.
    last: i64,
    /// Ids applied that are still inside the window, with the time they were appended.
    applied: BTreeMap<i64, i64>,
}

impl Follower {
    /// Follows changes after `last` (the newest id when the server starts).
    pub fn after(last: i64) -> Follower {
        Follower {
            last,
            applied: BTreeMap::new(),
        }
    }

    /// The id to read after.
    pub fn last(&self) -> i64 {
        self.last
    }

    /// The oldest append time a read must still include.
    pub fn since(now: i64) -> i64 {
        now - WINDOW
    }

    /// Of the rows read, those not applied yet (which are then counted as applied).
    pub fn take_new(&mut self, rows: Vec<Change>, now: i64) -> Vec<Change> {
        self.applied.retain(|_, at| *at >= now - WINDOW - 1);
        let fresh: Vec<Change> = rows
            .into_iter()
            .filter(|c| c.id > self.last || !self.applied.contains_key(&c.id))
            .collect();
        for c in &fresh {
            self.last = self.last.max(c.id);
            self.applied.insert(c.id, c.at);
        }
        fresh
    }
}

/// Listens for the feed's PostgreSQL notifications and wakes the follower on each; reconnects
/// after a lost connection, saying in the log that the poll carries the changes meanwhile.
/// `lost` runs when the connection goes: notifications sent meanwhile are lost, so the instance
/// counts as behind until the follower has read the feed again (`/healthz` says so).
pub async fn listen(url: String, wake: Arc<Notify>, lost: impl Fn() + Send + 'static) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match ChangeListener::connect(&url).await {
            Ok(mut listener) => {
                tracing::info!("change feed: other instances' changes arrive by notification");
                backoff = Duration::from_secs(1);
                // A change may have come while we were not listening.
                wake.notify_one();
                loop {
                    match listener.next().await {
                        Ok(true) => wake.notify_one(),
                        Ok(false) => {
                            tracing::warn!("change feed: notification connection lost; polling until it is back");
                            lost();
                            wake.notify_one();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "change feed: notifications failed; polling until they are back");
                            lost();
                            wake.notify_one();
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "change feed: cannot listen for notifications; polling meanwhile");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChangeKind;

    fn change(id: i64, at: i64) -> Change {
        Change {
            id,
            at,
            kind: ChangeKind::Session,
            subject: format!("s{id}"),
        }
    }

    #[test]
    fn a_row_that_commits_after_a_later_id_is_still_applied() {
        let mut f = Follower::after(10);
        // Row 12 commits first; row 11's transaction is still open.
        let ids = |v: Vec<Change>| v.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(f.take_new(vec![change(12, 100)], 100)), vec![12]);
        assert_eq!(f.last(), 12);
        // Next read: 11 has committed; 12 is not applied again.
        assert_eq!(
            ids(f.take_new(vec![change(11, 100), change(12, 100)], 101)),
            vec![11]
        );
        assert_eq!(
            ids(f.take_new(vec![change(11, 100), change(12, 100)], 102)),
            Vec::<i64>::new()
        );
    }

    #[test]
    fn the_memory_of_applied_rows_stays_inside_the_window() {
        let mut f = Follower::after(0);
        f.take_new((1..=100).map(|i| change(i, 100)).collect(), 100);
        f.take_new(vec![change(101, 200)], 200);
        assert_eq!(f.applied.len(), 1);
        assert_eq!(f.last(), 101);
    }
}
