//! Identity logic in plain Rust: users, groups, sessions and the proxy-auth access decision.
//! Nothing here knows about HTTP or SQL.

pub mod access;
pub mod forwarded;
pub mod group;
pub mod names;
pub mod rules;
pub mod session;
pub mod tab;
pub mod user;

pub use group::{Group, GroupId, ANY_SIGNED_IN, GUEST};
pub use session::{Person, SessionMethod, SessionToken, SessionView};
pub use tab::{Tab, TabKind};
pub use user::{NewUser, User, UserId};

/// Seconds since the Unix epoch: the one clock every timestamp in Usher uses.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// [`now`] for the proxy-auth hot path, where it is read on every request (the expiry check,
/// the last-seen time, the `Date` header): Linux's coarse wall clock, a load from the vDSO
/// page without reading the CPU's timestamp counter. It lags the precise clock by at most one
/// kernel tick (a few milliseconds), so for that moment after a second begins it may still say
/// the last one; nothing that reads it cares about a second either way.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn now_coarse() -> i64 {
    rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse).tv_sec
}

/// [`now`] where there is no coarse clock.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn now_coarse() -> i64 {
    now()
}
