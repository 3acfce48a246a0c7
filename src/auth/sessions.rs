//! The in-memory session cache that serves the proxy-auth hot path.
//!
//! Keyed by the token's SHA-256. Invalidation is by event: sign-out and revoke drop one entry,
//! a change to a user drops all of theirs, and the change feed does the same for changes made by
//! other processes. The TTL is only a safety net.
//!
//! An entry is small: the session's own numbers and an `Arc` of its [`Person`], one per user,
//! shared by all of that user's cached sessions (interned by user id when a loaded view is
//! kept; reused when the content is equal, replaced when it changed). A cache hit only clones
//! the entry's `Arc`; interning happens on a miss, under a short lock never held across an
//! await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use moka::sync::Cache;
use quick_cache::sync::{Cache as QuickCache, DefaultLifecycle};
use quick_cache::UnitWeighter;
use rustc_hash::FxBuildHasher;

use crate::domain::session::{hash_hex, TokenHash};
use crate::domain::{Person, SessionView, UserId};

/// The most sessions kept; past it, the least used go first.
const CAPACITY: u64 = 100_000;
/// How long a session stays cached without a word from the store: a safety net in case an
/// invalidation was lost, in seconds.
const TIME_TO_LIVE: i64 = 120;

/// One cached session and when it was read from the store ([`crate::domain::now_coarse`]).
#[derive(Clone)]
struct Cached {
    view: Arc<SessionView>,
    cached_at: i64,
}

/// Whether an entry cached at `cached_at` may still answer at `now`. The clock is the wall
/// clock, so an age below zero (the clock was set back) counts as stale too: otherwise the
/// safety net would stretch by however far it went back.
fn fresh(cached_at: i64, now: i64) -> bool {
    (0..TIME_TO_LIVE).contains(&(now - cached_at))
}

/// Cached session views.
pub struct SessionCache {
    /// quick_cache rather than moka, whose every read also reads the clock and logs the read
    /// for its eviction policy: a hit here is a read lock on one shard and a clone. The time to
    /// live is checked against the caller's clock reading instead ([`Cached::cached_at`]).
    ///
    /// Hashed with Fx, not SipHash: the keys are SHA-256 values of tokens Usher made, so they
    /// are already uniform and nobody can choose them to crowd one bucket (a lookup with a
    /// chosen cookie only reads). `missing` holds hashes of cookies anyone can send, and keeps
    /// the default keyed hasher.
    cache: QuickCache<TokenHash, Cached, UnitWeighter, FxBuildHasher>,
    /// Token hashes the store did not know. A token reaches a browser only after its session is
    /// stored, so "unknown" cannot turn into "known" later: remembering it briefly spares the
    /// database the repeats (a browser with a stale cookie, or someone spraying random cookies).
    missing: Cache<TokenHash, ()>,
    /// Bumped on every invalidation so a load that raced with one is not cached.
    generation: AtomicU64,
    /// The shared person of each user with cached sessions. Held weakly: the entries own their
    /// person, and one whose sessions all left the cache is pruned at the next last-seen flush.
    /// The lock also makes "check the generation, then insert" one step against invalidations.
    people: Mutex<HashMap<UserId, Weak<Person>>>,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache {
            // Sized as sessions arrive, not for the capacity up front (idle memory).
            cache: QuickCache::with(
                1024,
                CAPACITY,
                UnitWeighter,
                FxBuildHasher,
                DefaultLifecycle::default(),
            ),
            // Real browsers hold few stale cookies; a sprayer just churns this small cache.
            missing: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            generation: AtomicU64::new(0),
            people: Mutex::new(HashMap::new()),
        }
    }
}

impl SessionCache {
    /// A cached view, unless it was cached more than the time to live before `now`.
    pub fn get(&self, hash: &TokenHash, now: i64) -> Option<Arc<SessionView>> {
        self.cache
            .get(hash)
            .filter(|c| fresh(c.cached_at, now))
            .map(|c| c.view)
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

    /// Caches a view loaded from the store at `now`, unless an invalidation happened since
    /// `generation`; a kept view shares its person with the user's other cached sessions.
    /// Returns the view to answer with either way.
    pub fn insert(
        &self,
        hash: TokenHash,
        mut view: SessionView,
        generation: u64,
        now: i64,
    ) -> Arc<SessionView> {
        let mut people = self.people();
        if self.generation() != generation {
            return Arc::new(view);
        }
        let user = view.person.user_id;
        match people.get(&user).and_then(Weak::upgrade) {
            Some(shared) if shared == view.person => view.person = shared,
            _ => {
                people.insert(user, Arc::downgrade(&view.person));
            }
        }
        let view = Arc::new(view);
        self.cache.insert(
            hash,
            Cached {
                view: view.clone(),
                cached_at: now,
            },
        );
        view
    }

    /// The intern table; a panic elsewhere while holding it left nothing half-done worth
    /// refusing over (every step under it is a single map operation).
    fn people(&self) -> MutexGuard<'_, HashMap<UserId, Weak<Person>>> {
        self.people
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drops one session.
    pub fn invalidate(&self, hash: &TokenHash) {
        let _people = self.people();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache.remove(hash);
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
        {
            let mut people = self.people();
            self.generation.fetch_add(1, Ordering::AcqRel);
            people.remove(&user);
        }
        // Found first, then removed: removing while iterating could skip an entry.
        let theirs: Vec<TokenHash> = self
            .cache
            .iter()
            .filter(|(_, cached)| cached.view.user_id == user)
            .map(|(hash, _)| hash)
            .collect();
        for hash in theirs {
            self.cache.remove(&hash);
        }
    }

    /// Drops everything.
    pub fn invalidate_all(&self) {
        let mut people = self.people();
        self.generation.fetch_add(1, Ordering::AcqRel);
        people.clear();
        self.cache.clear();
    }

    /// Last-seen times not yet written to the store; marks them written. Also drops sessions
    /// past their time to live at `now` and forgets people none of whose sessions is cached any
    /// more (this runs every 30 s).
    pub fn take_last_seen(&self, now: i64) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        let mut stale = Vec::new();
        for (hash, cached) in self.cache.iter() {
            let view = &cached.view;
            let seen = view.last_seen.load(Ordering::Relaxed);
            if view.last_flushed.swap(seen, Ordering::Relaxed) != seen {
                out.push((hash_hex(&hash), seen));
            }
            if !fresh(cached.cached_at, now) {
                stale.push((hash, cached.cached_at));
            }
        }
        for (hash, cached_at) in stale {
            // Only that entry: one cached again meanwhile is newer and stays.
            self.cache.remove_if(&hash, |c| c.cached_at == cached_at);
        }
        self.people().retain(|_, person| person.strong_count() > 0);
        out
    }

    /// Number of cached sessions (some may be past their time to live until the next flush).
    pub fn len(&self) -> u64 {
        self.cache.len() as u64
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(session_id: i64, user: UserId, username: &str, group_id: i64) -> SessionView {
        SessionView::new(
            session_id,
            user,
            username.into(),
            Some(format!("{username}@example.org")),
            group_id,
            format!("group {group_id}"),
            false,
            i64::MAX,
            0,
        )
    }

    fn hash(n: u8) -> TokenHash {
        [n; 32]
    }

    #[test]
    fn one_users_sessions_share_one_person() {
        let cache = SessionCache::default();
        let a = cache.insert(hash(1), view(1, 7, "ada", 1), cache.generation(), 0);
        let b = cache.insert(hash(2), view(2, 7, "ada", 1), cache.generation(), 0);
        let other = cache.insert(hash(3), view(3, 8, "bob", 1), cache.generation(), 0);
        assert!(Arc::ptr_eq(&a.person, &b.person));
        assert!(!Arc::ptr_eq(&a.person, &other.person));
        // What the cache hands out is what was kept, person included.
        let cached = cache.get(&hash(2), 0).expect("cached");
        assert!(Arc::ptr_eq(&cached.person, &a.person));
        assert_eq!(cached.session_id, 2);
        assert_eq!(cached.headers.user, "ada");
        assert_eq!(other.headers.user, "bob");
    }

    #[test]
    fn a_changed_user_gives_new_sessions_the_new_data() {
        let cache = SessionCache::default();
        let old = cache.insert(hash(1), view(1, 7, "ada", 2), cache.generation(), 0);
        // Read again after a change that was not (yet) announced: new content, new person.
        let new = cache.insert(hash(2), view(2, 7, "ada.l", 1), cache.generation(), 0);
        assert!(!Arc::ptr_eq(&old.person, &new.person));
        assert_eq!(new.username, "ada.l");
        assert_eq!(new.headers.user, "ada.l");
        assert_eq!(new.headers.group_id, "1");
        assert_eq!(new.group_name, "group 1");
        // Later sessions share the new person, not the old one.
        let later = cache.insert(hash(3), view(3, 7, "ada.l", 1), cache.generation(), 0);
        assert!(Arc::ptr_eq(&later.person, &new.person));
        // A change to two-factor alone is a change too.
        let enrolled = view(4, 7, "ada.l", 1).with_two_factor(true, false);
        let enrolled = cache.insert(hash(4), enrolled, cache.generation(), 0);
        assert!(enrolled.two_factor);
        assert!(!Arc::ptr_eq(&enrolled.person, &new.person));
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_not_kept_or_shared() {
        let cache = SessionCache::default();
        let kept = cache.insert(hash(1), view(1, 7, "ada", 1), cache.generation(), 0);
        let before = cache.generation();
        cache.invalidate_user(7);
        assert!(cache.get(&hash(1), 0).is_none());
        let raced = cache.insert(hash(2), view(2, 7, "ada", 1), before, 0);
        assert!(cache.get(&hash(2), 0).is_none());
        assert!(!Arc::ptr_eq(&raced.person, &kept.person));
        // After the invalidation a fresh load starts a fresh person.
        let fresh = cache.insert(hash(3), view(3, 7, "ada", 1), cache.generation(), 0);
        assert!(!Arc::ptr_eq(&fresh.person, &kept.person));
        assert!(cache.get(&hash(3), 0).is_some());
    }

    #[test]
    fn a_session_cached_longer_than_the_time_to_live_is_read_again() {
        let cache = SessionCache::default();
        cache.insert(hash(1), view(1, 7, "ada", 1), cache.generation(), 1000);
        cache.insert(hash(2), view(2, 7, "ada", 1), cache.generation(), 1000);
        assert!(cache.get(&hash(1), 1000).is_some());
        assert!(cache.get(&hash(1), 1000 + TIME_TO_LIVE - 1).is_some());
        assert!(cache.get(&hash(1), 1000 + TIME_TO_LIVE).is_none());
        // A wall clock set back does not stretch the time to live.
        assert!(cache.get(&hash(1), 1000 - 10).is_none());
        // Read again from the store meanwhile: newer, so the flush keeps it.
        cache.insert(hash(2), view(2, 7, "ada", 1), cache.generation(), 1100);
        cache.take_last_seen(1000 + TIME_TO_LIVE);
        assert_eq!(cache.len(), 1, "the stale entry is dropped at the flush");
        assert!(cache.get(&hash(2), 1000 + TIME_TO_LIVE).is_some());
    }

    #[test]
    fn invalidating_a_user_drops_every_one_of_their_sessions() {
        let cache = SessionCache::default();
        for n in 0..200u8 {
            let user = if n % 3 == 0 { 7 } else { 8 };
            cache.insert(hash(n), view(n.into(), user, "x", 1), cache.generation(), 0);
        }
        cache.invalidate_user(7);
        for n in 0..200u8 {
            assert_eq!(cache.get(&hash(n), 0).is_some(), n % 3 != 0, "session {n}");
        }
    }

    #[test]
    fn people_without_cached_sessions_are_forgotten_at_the_flush() {
        let cache = SessionCache::default();
        drop(cache.insert(hash(1), view(1, 7, "ada", 1), cache.generation(), 0));
        cache.invalidate(&hash(1));
        cache.take_last_seen(0);
        assert!(cache.people().is_empty());
    }
}
