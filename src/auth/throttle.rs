//! Server-side throttling of failed sign-ins, per account and per client IP. The counters live
//! in the store (`rate_windows`), so every instance on one database counts against the same
//! budget: retrying a refused password on another instance gains nothing. A paused account
//! affects only that account; there is no switch an attacker can flip for everybody.
//!
//! Must never: give one account several budgets. Whatever text names the account (its username
//! in any case, its e-mail, the Plex name it is linked to) counts against the account's id;
//! text that names nobody counts against its look-alike key, so `zed`, `ZED` and `ｚｅｄ` share
//! one budget there too. Nor may a sign-in go ahead when the counters cannot be read: the store
//! being down refuses it (503) rather than letting it through unthrottled.

use std::net::IpAddr;

use crate::domain::names::name_key;
use crate::domain::UserId;
use crate::settings::ThrottleSettings;
use crate::store::{RateScope, Store, StoreError};

/// What a failed sign-in counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// The account the typed text names.
    Account(UserId),
    /// Text that names no account, by its look-alike key.
    Unknown(String),
}

impl ThrottleKey {
    /// The account when the text names one, else the text's look-alike key.
    pub fn of(account: Option<UserId>, typed: &str) -> Self {
        match account {
            Some(id) => ThrottleKey::Account(id),
            None => ThrottleKey::Unknown(name_key(typed)),
        }
    }
}

/// Counts failed sign-ins in the store.
pub struct LoginThrottle {
    store: Store,
}

/// IPv6 clients are counted per /64: one host usually has the whole prefix.
fn ip_key(ip: IpAddr) -> IpAddr {
    match crate::domain::access::canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl ThrottleKey {
    /// The counter this key names.
    fn counter(&self) -> (RateScope, String) {
        match self {
            ThrottleKey::Account(id) => (RateScope::LoginAccount, id.to_string()),
            ThrottleKey::Unknown(key) => (RateScope::LoginName, key.clone()),
        }
    }
}

impl LoginThrottle {
    /// A throttle counting in `store`.
    pub fn new(store: Store) -> Self {
        LoginThrottle { store }
    }

    /// `Ok(Err(seconds))` when this account (or name) or IP must wait before trying again.
    pub async fn check(
        &self,
        user: &ThrottleKey,
        ip: IpAddr,
        cfg: ThrottleSettings,
        now: i64,
    ) -> Result<Result<(), u64>, StoreError> {
        let (scope, subject) = user.counter();
        let user_wait = self
            .store
            .rate_window(scope, &subject)
            .await?
            .and_then(|w| w.blocked_for(cfg.max_failures_per_user, cfg.window_seconds, now));
        let ip_wait = self
            .store
            .rate_window(RateScope::LoginIp, &ip_key(ip).to_string())
            .await?
            .and_then(|w| w.blocked_for(cfg.max_failures_per_ip, cfg.window_seconds, now));
        Ok(match user_wait.max(ip_wait) {
            Some(wait) => Err(wait),
            None => Ok(()),
        })
    }

    /// Counts a failure against the account (or name) and the IP.
    pub async fn failure(
        &self,
        user: &ThrottleKey,
        ip: IpAddr,
        cfg: ThrottleSettings,
        now: i64,
    ) -> Result<(), StoreError> {
        let (scope, subject) = user.counter();
        self.store
            .count_hit(scope, &subject, cfg.window_seconds, now)
            .await?;
        self.store
            .count_hit(
                RateScope::LoginIp,
                &ip_key(ip).to_string(),
                cfg.window_seconds,
                now,
            )
            .await?;
        Ok(())
    }

    /// A successful sign-in clears the account's count (not the IP's).
    pub async fn success(&self, user: &ThrottleKey) -> Result<(), StoreError> {
        let (scope, subject) = user.counter();
        self.store.clear_rate(scope, &subject).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: ThrottleSettings = ThrottleSettings {
        max_failures_per_user: 3,
        max_failures_per_ip: 5,
        window_seconds: 60,
    };

    /// A throttle on a fresh SQLite store (the directory lives as long as the test holds it).
    async fn throttle() -> (tempfile::TempDir, LoginThrottle) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        (dir, LoginThrottle::new(store))
    }

    fn name(s: &str) -> ThrottleKey {
        ThrottleKey::of(None, s)
    }

    #[tokio::test]
    async fn texts_naming_one_account_or_one_look_alike_share_a_budget() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let (_dir, t) = throttle().await;
        for _ in 0..3 {
            t.failure(&ThrottleKey::of(Some(7), "bob"), ip, CFG, 100)
                .await
                .unwrap();
        }
        assert!(t
            .check(&ThrottleKey::of(Some(7), "BOB@example.com"), ip, CFG, 101)
            .await
            .unwrap()
            .is_err());
        assert!(t
            .check(&ThrottleKey::of(Some(8), "bob"), ip, CFG, 101)
            .await
            .unwrap()
            .is_ok());
        let (_dir, t) = throttle().await;
        for typed in ["zed", "ZED", "\u{ff5a}ed"] {
            t.failure(&name(typed), ip, CFG, 100).await.unwrap();
        }
        assert!(t.check(&name("Zed"), ip, CFG, 101).await.unwrap().is_err());
        assert!(t.check(&name("ted"), ip, CFG, 101).await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn per_user_then_per_ip() {
        let (_dir, t) = throttle().await;
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check(&name("bob"), ip, CFG, 100).await.unwrap().is_ok());
            t.failure(&name("bob"), ip, CFG, 100).await.unwrap();
        }
        assert_eq!(t.check(&name("bob"), ip, CFG, 110).await.unwrap(), Err(50));
        // Another username from another IP is not affected.
        assert!(t
            .check(&name("carol"), "10.0.0.2".parse().unwrap(), CFG, 110)
            .await
            .unwrap()
            .is_ok());
        // Window over: allowed again.
        assert!(t.check(&name("bob"), ip, CFG, 161).await.unwrap().is_ok());
        // The IP limit catches spraying across usernames.
        for i in 0..4 {
            t.failure(&name(&format!("u{i}")), ip, CFG, 200)
                .await
                .unwrap();
        }
        assert!(t
            .check(&name("someone"), ip, CFG, 200)
            .await
            .unwrap()
            .is_ok());
        t.failure(&name("u9"), ip, CFG, 200).await.unwrap();
        assert!(t
            .check(&name("someone"), ip, CFG, 200)
            .await
            .unwrap()
            .is_err());
    }

    #[tokio::test]
    async fn ipv6_counted_per_64() {
        let (_dir, t) = throttle().await;
        for i in 0..5 {
            t.failure(
                &name(&format!("u{i}")),
                format!("2001:db8::{i}").parse().unwrap(),
                CFG,
                0,
            )
            .await
            .unwrap();
        }
        assert!(t
            .check(&name("x"), "2001:db8::ffff".parse().unwrap(), CFG, 1)
            .await
            .unwrap()
            .is_err());
        assert!(t
            .check(&name("x"), "2001:db8:1::1".parse().unwrap(), CFG, 1)
            .await
            .unwrap()
            .is_ok());
    }
}
