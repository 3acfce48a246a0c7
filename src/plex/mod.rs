//! The plex.tv client: password sign-in, the PIN ("Plex OAuth") flow, the identity behind a token, the
//! owner's friends and shares, and the owner's servers.
//!
//! Wire formats follow `shared/spec/external-apis.md` §1–§6. JSON is used on `/api/v2/*` (with
//! `Accept: application/json`); the legacy `/api/users` and `/pms/servers` are XML whatever is asked for,
//! and are parsed with quick-xml + serde in [`xml`]. This module knows nothing about the rest of Usher:
//! base URLs, the client identifier and the timeouts come in through [`PlexClientConfig`].

mod answers;
mod client;
mod xml;

use std::fmt;
use std::time::{Duration, SystemTime};

pub use client::{PlexClient, PlexClientConfig};

/// A plex.tv account token (or a per-server access token). `Debug` never prints it and there is no
/// `Display`, so it cannot end up in a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct PlexToken(String);

impl PlexToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for sending to plex.tv or storing encrypted.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for PlexToken {
    fn from(token: String) -> Self {
        Self(token)
    }
}

impl From<&str> for PlexToken {
    fn from(token: &str) -> Self {
        Self(token.to_owned())
    }
}

impl fmt::Debug for PlexToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlexToken(<redacted>)")
    }
}

/// The Plex account behind a token (`/api/v2/user`, or the answer to a password sign-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlexAccount {
    /// plex.tv's numeric account id: the same number as `User@id` in the owner's friends list.
    pub id: i64,
    /// 16-hex account uuid (also the avatar path component); empty if plex.tv left it out.
    pub uuid: String,
    /// Plex username; empty for managed Plex Home users.
    pub username: String,
    /// Display name (the username, or a managed user's name).
    pub title: String,
    /// E-mail address; `None` when plex.tv sent none or an empty one (managed users).
    pub email: Option<String>,
    /// Avatar URL.
    pub thumb: Option<String>,
    /// The account token.
    pub token: PlexToken,
    /// The account has Plex two-factor authentication turned on.
    pub two_factor_enabled: bool,
    /// plex.tv says the e-mail address is not confirmed (`"confirmed": false`); absent counts
    /// as confirmed.
    pub email_unconfirmed: bool,
    /// Member of a Plex Home.
    pub home: bool,
    /// Administrator of its Plex Home (not the same as owning a server).
    pub home_admin: bool,
    /// Managed (restricted) Plex Home user.
    pub restricted: bool,
    /// Plex Home guest.
    pub guest: bool,
    /// Protected by a Plex Home PIN.
    pub protected: bool,
}

impl PlexAccount {
    /// The name to show a person: the username, or the title for managed users who have none.
    pub fn display_name(&self) -> &str {
        if self.username.is_empty() {
            &self.title
        } else {
            &self.username
        }
    }
}

/// A PIN created for the browser sign-in ("Plex OAuth") flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The id to poll with [`PlexClient::check_pin`].
    pub id: i64,
    /// The code that goes into the auth-app URL (not secret on its own: it only works with our client id).
    pub code: String,
    /// Lifetime plex.tv announced (`expiresIn`).
    pub expires_in: Duration,
    /// When the PIN expires, by our clock (creation time + `expires_in`).
    pub expires_at: SystemTime,
}

/// Where a PIN stands when polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinState {
    /// Nobody has approved it yet.
    Pending,
    /// Approved: the token of the account that approved it.
    Approved(PlexToken),
    /// Expired, unknown, or created by another client identifier (plex.tv answers 404 to all three).
    Expired,
}

/// One person in the owner's friends list (`GET /api/users`): friends and Plex Home members. The owner
/// is never in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlexFriend {
    /// Numeric Plex account id; match on this, never on the username.
    pub id: i64,
    /// Username; empty for managed Home users.
    pub username: String,
    /// Display name.
    pub title: String,
    /// E-mail; `None` when empty (managed Home users).
    pub email: Option<String>,
    /// Avatar URL.
    pub thumb: Option<String>,
    /// Member of the owner's Plex Home.
    pub home: bool,
    /// Managed (restricted) Home user.
    pub restricted: bool,
    /// Protected by a Plex Home PIN.
    pub protected: bool,
    /// The owner's servers shared with this person.
    pub servers: Vec<PlexShare>,
}

impl PlexFriend {
    /// Whether an accepted share of the server `machine_id` exists (pending invites do not count).
    pub fn has_share_on(&self, machine_id: &str) -> bool {
        self.servers
            .iter()
            .any(|s| !s.pending && s.machine_identifier.eq_ignore_ascii_case(machine_id))
    }
}

/// One `<Server>` share under a friend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlexShare {
    /// The share id (`Server@id`, the same as `SharedServer@id`).
    pub share_id: Option<i64>,
    /// plex.tv's numeric server id.
    pub server_id: Option<i64>,
    /// The Plex Media Server's machine identifier.
    pub machine_identifier: String,
    /// The server's name.
    pub name: String,
    /// The invite has not been accepted yet.
    pub pending: bool,
    /// All libraries are shared.
    pub all_libraries: bool,
}

/// A Plex Media Server the token's account can see, owned or shared with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlexServer {
    /// The server's name.
    pub name: String,
    /// The PMS machine identifier (`clientIdentifier` in resources).
    pub machine_identifier: String,
    /// The token's account owns this server.
    pub owned: bool,
    /// Owner's name for a shared server.
    pub source_title: Option<String>,
    /// PMS version.
    pub version: Option<String>,
    /// Public address plex.tv last saw.
    pub public_address: Option<String>,
    /// The token to talk to this server with (the owner's token for an owned server).
    pub access_token: Option<PlexToken>,
    /// Whether plex.tv currently sees the server online, when it says.
    pub presence: Option<bool>,
    /// Ways to reach the server.
    pub connections: Vec<PlexConnection>,
}

/// One way to reach a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlexConnection {
    /// e.g. `https://192-168-1-10.<hash>.plex.direct:32400`
    pub uri: String,
    /// A LAN address.
    pub local: bool,
}

/// What can go wrong talking to plex.tv. Messages are written for the person running Usher; none of
/// them ever contains a token or a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlexError {
    /// Wrong username/e-mail or password (plex.tv error 1001).
    #[error("plex.tv did not accept that Plex username or e-mail and password")]
    BadCredentials,
    /// The account has two-factor authentication and no code was sent (plex.tv error 1029).
    #[error("this Plex account uses two-factor authentication: enter the 6-digit code from the authenticator app")]
    TwoFactorRequired,
    /// The two-factor code was wrong (plex.tv error 1028).
    #[error(
        "plex.tv did not accept the two-factor code; check the authenticator app and try again"
    )]
    WrongTwoFactorCode,
    /// plex.tv is refusing sign-ins from this address for a while (plex.tv error 1031, or HTTP 429).
    #[error("plex.tv is refusing sign-ins from this address after repeated failures; wait a few minutes and try again")]
    RateLimited,
    /// The token was refused (HTTP 401 on an endpoint that needs a token).
    #[error("plex.tv rejected the Plex token: it is invalid, expired or was signed out; sign in with Plex again")]
    TokenInvalid,
    /// No connection could be made (DNS, refused, TLS, reset).
    #[error("plex.tv at {url} could not be reached: {reason}")]
    Unreachable {
        /// The configured plex.tv base URL.
        url: String,
        /// The low-level cause, e.g. "Connection refused (os error 111)".
        reason: String,
    },
    /// plex.tv did not answer in time.
    #[error("plex.tv at {url} did not answer within {} seconds", fmt_secs(*.after))]
    Timeout {
        /// The configured plex.tv base URL.
        url: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// plex.tv answered, but not with anything usable: an unexpected status, or a body that is not the
    /// JSON/XML it should be.
    #[error("plex.tv at {url} gave an unexpected answer{}: {detail}", fmt_status(*.status))]
    Unexpected {
        /// The configured plex.tv base URL.
        url: String,
        /// The HTTP status, when there was a response.
        status: Option<u16>,
        /// What was wrong, in words.
        detail: String,
    },
    /// The client could not be built from its configuration.
    #[error("the plex.tv client settings are not usable: {0}")]
    Config(String),
}

impl PlexError {
    /// A stable machine-readable code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadCredentials => "bad_credentials",
            Self::TwoFactorRequired => "two_factor_required",
            Self::WrongTwoFactorCode => "wrong_two_factor_code",
            Self::RateLimited => "plex_rate_limited",
            Self::TokenInvalid => "plex_token_invalid",
            Self::Unreachable { .. } => "plex_unreachable",
            Self::Timeout { .. } => "plex_timeout",
            Self::Unexpected { .. } => "plex_unexpected",
            Self::Config(_) => "plex_config",
        }
    }

    /// plex.tv is down, slow or broken (as opposed to refusing this person): unreachable, timed out,
    /// a 5xx, or garbage.
    pub fn is_plex_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::Unexpected { .. }
        )
    }
}

fn fmt_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{:.1}", d.as_secs_f64())
    }
}

fn fmt_status(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

/// Parser messages can quote the offending value (`invalid type: string "…"`), which could be a token:
/// keep the message, drop anything in double quotes.
pub(crate) fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        match after.find('"') {
            Some(close) => {
                out.push_str("…\"");
                rest = &after[close + 1..];
            }
            None => {
                rest = after;
                break;
            }
        }
    }
    out.push_str(rest);
    out.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted_everywhere() {
        let account = PlexAccount {
            id: 1,
            uuid: "u".into(),
            username: "friendly".into(),
            title: "friendly".into(),
            email: None,
            thumb: None,
            token: PlexToken::new("SECRETTOKEN123"),
            two_factor_enabled: false,
            email_unconfirmed: false,
            home: false,
            home_admin: false,
            restricted: false,
            guest: false,
            protected: false,
        };
        let printed = format!(
            "{account:?} {:?}",
            PinState::Approved(PlexToken::new("SECRETTOKEN123"))
        );
        assert!(!printed.contains("SECRETTOKEN123"), "{printed}");
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn error_messages_name_plex_tv_and_codes_are_stable() {
        let e = PlexError::Unreachable {
            url: "https://plex.tv".into(),
            reason: "Connection refused".into(),
        };
        assert_eq!(
            e.to_string(),
            "plex.tv at https://plex.tv could not be reached: Connection refused"
        );
        assert_eq!(e.code(), "plex_unreachable");
        let e = PlexError::Timeout {
            url: "https://plex.tv".into(),
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "plex.tv at https://plex.tv did not answer within 1.5 seconds"
        );
        let e = PlexError::Unexpected {
            url: "https://plex.tv".into(),
            status: Some(500),
            detail: "x".into(),
        };
        assert_eq!(
            e.to_string(),
            "plex.tv at https://plex.tv gave an unexpected answer (HTTP 500): x"
        );
        assert_eq!(PlexError::TwoFactorRequired.code(), "two_factor_required");
        assert!(!PlexError::BadCredentials.is_plex_unavailable());
    }

    #[test]
    fn redaction_drops_quoted_values() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "ADMINTOKEN", expected i64"#),
            r#"invalid type: string "…", expected i64"#
        );
        assert_eq!(redact_quoted("missing field `id`"), "missing field `id`");
        assert_eq!(
            redact_quoted("value not closed: `\"`"),
            "value not closed: `\"`"
        );
        assert_eq!(redact_quoted(r#"a "x" b "y"#), r#"a "…" b "y"#);
    }

    #[test]
    fn share_check_ignores_pending_and_case() {
        let share = |m: &str, pending| PlexShare {
            share_id: None,
            server_id: None,
            machine_identifier: m.into(),
            name: "S".into(),
            pending,
            all_libraries: true,
        };
        let mut friend = PlexFriend {
            id: 5,
            username: String::new(),
            title: "Kids".into(),
            email: None,
            thumb: None,
            home: true,
            restricted: true,
            protected: false,
            servers: vec![share("ABC", false), share("def", true)],
        };
        assert!(friend.has_share_on("abc"));
        assert!(!friend.has_share_on("def"));
        friend.servers.clear();
        assert!(!friend.has_share_on("abc"));
    }
}
