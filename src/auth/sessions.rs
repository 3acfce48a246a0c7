//! The in-memory session cache that serves the proxy-auth hot path.
//!
//! Keyed by the token's SHA-256. Invalidation is by event: sign-out and revoke drop one entry,
//! a change to a user drops all of theirs, and the change feed does the same for changes made by
//! other processes. The TTL is only a safety net.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::domain::session::{hash_hex, TokenHash};
use crate::domain::{SessionView, UserId};

/// Cached session views.
pub struct SessionCache {
    cache: Cache<TokenHash, Arc<SessionView>>,
    /// Token hashes the store did not know. A token reaches a browser only after its session is
    /// stored, so "unknown" cannot turn into "known" later: remembering it briefly spares the
    /// database the repeats (a browser with a stale cookie, or someone spraying random cookies).
    missing: Cache<TokenHash, ()>,
    /// Bumped on every invalidation so a load that raced with one is not cached.
    generation: AtomicU64,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache {
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(120))
                .build(),
            // Real browsers hold few stale cookies; a sprayer just churns this small cache.
            missing: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            generation: AtomicU64::new(0),
        }
    }
}

impl SessionCache {
    /// A cached view.
    pub fn get(&self, hash: &TokenHash) -> Option<Arc<SessionView>> {
        self.cache.get(hash)
    }

    /// True when the store recently said it has no session with this hash.
    pub fn is_missing(&self, hash: &TokenHash) -> bool {
        self.missing.contains_key(hash)
    }

    /// Remembers that the store has no session with this hash.
    pub fn mark_missing(&self, hash: TokenHash) {
        self.missing.insert(hash, ());
    }

    /// The generation to pass to [`insert`](Self::insert) after loading from the store.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a view loaded from the store, unless an invalidation happened since `generation`.
    pub fn insert(&self, hash: TokenHash, view: Arc<SessionView>, generation: u64) {
        if self.generation() == generation {
            self.cache.insert(hash, view);
        }
    }

    /// Drops one session.
    pub fn invalidate(&self, hash: &TokenHash) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate(hash);
    }

    /// Drops one session given as stored (hex).
    pub fn invalidate_hex(&self, hex_hash: &str) {
        if let Some(hash) = hex::decode(hex_hash)
            .ok()
            .and_then(|b| TokenHash::try_from(b).ok())
        {
            self.invalidate(&hash);
        }
    }

    /// Drops every session of a user.
    pub fn invalidate_user(&self, user: UserId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for (hash, view) in self.cache.iter() {
            if view.user_id == user {
                self.cache.invalidate(&*hash);
            }
        }
    }

    /// Drops everything.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
    }

    /// Last-seen times not yet written to the store; marks them written.
    pub fn take_last_seen(&self) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for (hash, view) in self.cache.iter() {
            let seen = view.last_seen.load(Ordering::Relaxed);
            if view.last_flushed.swap(seen, Ordering::Relaxed) != seen {
                out.push((hash_hex(&hash), seen));
            }
        }
        out
    }

    /// Number of cached sessions (approximate).
    pub fn len(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Number of cached sessions, exact as of now: applies the cache's pending bookkeeping first
    /// (for a metrics scrape, never the hot path).
    pub fn count_now(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
