//! Server-side throttling of failed sign-ins, per account and per client IP, in bounded memory.
//! A paused account affects only that account; there is no switch an attacker can flip for
//! everybody.
//!
//! Must never: give one account several budgets. Whatever text names the account (its username
//! in any case, its e-mail, the Plex name it is linked to) counts against the account's id;
//! text that names nobody counts against its look-alike key, so `zed`, `ZED` and `ｚｅｄ` share
//! one budget there too.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;

use crate::domain::names::name_key;
use crate::domain::UserId;
use crate::settings::ThrottleSettings;

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

#[derive(Debug, Default)]
struct Window {
    start: i64,
    failures: u32,
}

impl Window {
    /// Seconds until the window ends when it is over the limit.
    fn blocked_for(&self, max: u32, window: i64, now: i64) -> Option<u64> {
        let end = self.start + window;
        (self.failures >= max && now < end).then(|| (end - now).max(1) as u64)
    }

    fn fail(&mut self, window: i64, now: i64) {
        if now - self.start >= window {
            self.start = now;
            self.failures = 0;
        }
        self.failures += 1;
    }
}

/// Counts failed sign-ins.
pub struct LoginThrottle {
    by_user: Cache<ThrottleKey, Arc<Mutex<Window>>>,
    by_ip: Cache<IpAddr, Arc<Mutex<Window>>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            by_user: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(86_400))
                .build(),
            by_ip: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(86_400))
                .build(),
        }
    }
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

impl LoginThrottle {
    /// `Err(seconds)` when this account (or name) or IP must wait before trying again.
    pub fn check(
        &self,
        user: &ThrottleKey,
        ip: IpAddr,
        cfg: ThrottleSettings,
        now: i64,
    ) -> Result<(), u64> {
        let user_wait = self.by_user.get(user).and_then(|w| {
            w.lock()
                .ok()?
                .blocked_for(cfg.max_failures_per_user, cfg.window_seconds, now)
        });
        let ip_wait = self.by_ip.get(&ip_key(ip)).and_then(|w| {
            w.lock()
                .ok()?
                .blocked_for(cfg.max_failures_per_ip, cfg.window_seconds, now)
        });
        match user_wait.max(ip_wait) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failure against the account (or name) and the IP.
    pub fn failure(&self, user: &ThrottleKey, ip: IpAddr, cfg: ThrottleSettings, now: i64) {
        for w in [
            self.by_user.get_with(user.clone(), Default::default),
            self.by_ip.get_with(ip_key(ip), Default::default),
        ] {
            if let Ok(mut w) = w.lock() {
                w.fail(cfg.window_seconds, now);
            }
        }
    }

    /// A successful sign-in clears the account's count (not the IP's).
    pub fn success(&self, user: &ThrottleKey) {
        self.by_user.invalidate(user);
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

    fn name(s: &str) -> ThrottleKey {
        ThrottleKey::of(None, s)
    }

    #[test]
    fn texts_naming_one_account_or_one_look_alike_share_a_budget() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t = LoginThrottle::default();
        for _ in 0..3 {
            t.failure(&ThrottleKey::of(Some(7), "bob"), ip, CFG, 100);
        }
        assert!(t
            .check(&ThrottleKey::of(Some(7), "BOB@example.com"), ip, CFG, 101)
            .is_err());
        assert!(t
            .check(&ThrottleKey::of(Some(8), "bob"), ip, CFG, 101)
            .is_ok());
        let t = LoginThrottle::default();
        for typed in ["zed", "ZED", "\u{ff5a}ed"] {
            t.failure(&name(typed), ip, CFG, 100);
        }
        assert!(t.check(&name("Zed"), ip, CFG, 101).is_err());
        assert!(t.check(&name("ted"), ip, CFG, 101).is_ok());
    }

    #[test]
    fn per_user_then_per_ip() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check(&name("bob"), ip, CFG, 100).is_ok());
            t.failure(&name("bob"), ip, CFG, 100);
        }
        assert_eq!(t.check(&name("bob"), ip, CFG, 110), Err(50));
        // Another username from another IP is not affected.
        assert!(t
            .check(&name("carol"), "10.0.0.2".parse().unwrap(), CFG, 110)
            .is_ok());
        // Window over: allowed again.
        assert!(t.check(&name("bob"), ip, CFG, 161).is_ok());
        // The IP limit catches spraying across usernames.
        for i in 0..4 {
            t.failure(&name(&format!("u{i}")), ip, CFG, 200);
        }
        assert!(t.check(&name("someone"), ip, CFG, 200).is_ok());
        t.failure(&name("u9"), ip, CFG, 200);
        assert!(t.check(&name("someone"), ip, CFG, 200).is_err());
    }

    #[test]
    fn ipv6_counted_per_64() {
        let t = LoginThrottle::default();
        for i in 0..5 {
            t.failure(
                &name(&format!("u{i}")),
                format!("2001:db8::{i}").parse().unwrap(),
                CFG,
                0,
            );
        }
        assert!(t
            .check(&name("x"), "2001:db8::ffff".parse().unwrap(), CFG, 1)
            .is_err());
        assert!(t
            .check(&name("x"), "2001:db8:1::1".parse().unwrap(), CFG, 1)
            .is_ok());
    }
}
