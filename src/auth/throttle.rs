//! Server-side throttling of failed sign-ins, per username and per client IP, in bounded memory.
//! A paused username affects only that username; there is no switch an attacker can flip for
//! everybody.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;

use crate::settings::ThrottleSettings;

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
    by_user: Cache<String, Arc<Mutex<Window>>>,
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
    /// `Err(seconds)` when this username or IP must wait before trying again.
    pub fn check(
        &self,
        user: &str,
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

    /// Counts a failure against the username and the IP.
    pub fn failure(&self, user: &str, ip: IpAddr, cfg: ThrottleSettings, now: i64) {
        for w in [
            self.by_user.get_with(user.to_string(), Default::default),
            self.by_ip.get_with(ip_key(ip), Default::default),
        ] {
            if let Ok(mut w) = w.lock() {
                w.fail(cfg.window_seconds, now);
            }
        }
    }

    /// A successful sign-in clears the username's count (not the IP's).
    pub fn success(&self, user: &str) {
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

    #[test]
    fn per_user_then_per_ip() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check("bob", ip, CFG, 100).is_ok());
            t.failure("bob", ip, CFG, 100);
        }
        assert_eq!(t.check("bob", ip, CFG, 110), Err(50));
        // Another username from another IP is not affected.
        assert!(t
            .check("carol", "10.0.0.2".parse().unwrap(), CFG, 110)
            .is_ok());
        // Window over: allowed again.
        assert!(t.check("bob", ip, CFG, 161).is_ok());
        // The IP limit catches spraying across usernames.
        for i in 0..4 {
            t.failure(&format!("u{i}"), ip, CFG, 200);
        }
        assert!(t.check("someone", ip, CFG, 200).is_ok());
        t.failure("u9", ip, CFG, 200);
        assert!(t.check("someone", ip, CFG, 200).is_err());
    }

    #[test]
    fn ipv6_counted_per_64() {
        let t = LoginThrottle::default();
        for i in 0..5 {
            t.failure(
                &format!("u{i}"),
                format!("2001:db8::{i}").parse().unwrap(),
                CFG,
                0,
            );
        }
        assert!(t
            .check("x", "2001:db8::ffff".parse().unwrap(), CFG, 1)
            .is_err());
        assert!(t
            .check("x", "2001:db8:1::1".parse().unwrap(), CFG, 1)
            .is_ok());
    }
}
