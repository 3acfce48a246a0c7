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
