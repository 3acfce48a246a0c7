//! Sessions: the random token in the cookie, its hash in the store, and the cached view the
//! proxy-auth hot path answers from.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use base64::Engine;
use http::HeaderValue;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{GroupId, UserId};

/// How a person signed in; stored with the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMethod {
    Local,
    Setup,
    PlexPassword,
    PlexOauth,
}

impl SessionMethod {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionMethod::Local => "local",
            SessionMethod::Setup => "setup",
            SessionMethod::PlexPassword => "plex_password",
            SessionMethod::PlexOauth => "plex_oauth",
        }
    }
}

/// Length of a token in its cookie form: 32 bytes, base64url without padding.
pub const TOKEN_CHARS: usize = 43;

/// A session token as the browser holds it. Never logged, never stored.
pub struct SessionToken(String);

impl SessionToken {
    /// A fresh 256-bit random token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SessionToken(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The cookie value.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key under which the store and the cache know this session.
    pub fn hash(&self) -> TokenHash {
        hash_token(self.0.as_bytes())
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(****)")
    }
}

/// SHA-256 of a token.
pub type TokenHash = [u8; 32];

/// Hashes a cookie value that looks like a token; `None` for anything that cannot be one, so
/// garbage never reaches the cache or the store.
pub fn hash_cookie_value(value: &[u8]) -> Option<TokenHash> {
    let value: &[u8; TOKEN_CHARS] = value.try_into().ok()?;
    // Every byte looked at, without stopping at the first bad one: the compiler then checks
    // them many at a time (this runs on every proxy-auth request).
    let base64url = value.iter().fold(true, |ok, &b| {
        ok & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_'))
    });
    if !base64url {
        return None;
    }
    Some(hash_token(value))
}

fn hash_token(value: &[u8]) -> TokenHash {
    Sha256::digest(value).into()
}

/// Everything the proxy-auth answer needs about one session, with the header values prepared.
///
/// Split in two to keep the cache small: what belongs to the session (a few numbers) lives
/// here, what belongs to the person (names, group, flags, the identity header values) lives in
/// one [`Person`] shared by all of that person's cached sessions (see `auth::sessions`). The
/// person's fields read as the view's own (`view.username`, `view.headers.user`) through
/// `Deref`, so the hot path and every reader are unchanged.
#[derive(Debug)]
pub struct SessionView {
    pub session_id: i64,
    pub expires_at: i64,
    /// Last time the session was used, kept in memory and written to the store in batches.
    pub last_seen: AtomicI64,
    /// Last value written to the store, to know what needs flushing.
    pub last_flushed: AtomicI64,
    /// The session began with a Plex sign-in (password or PIN).
    pub plex_sign_in: bool,
    /// The person, shared with their other cached sessions.
    pub person: Arc<Person>,
}

/// What a session view knows about its person, as read with the session from the store. Equal
/// content means equal answers, so the cache keeps one per user and shares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user_id: UserId,
    pub username: String,
    pub email: Option<String>,
    pub group_id: GroupId,
    pub group_name: String,
    pub locked: bool,
    /// The person has two-factor sign-in on (a confirmed enrolment).
    pub two_factor: bool,
    pub headers: IdentityHeaders,
}

/// Prepared identity header values, built once when a person's data is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    pub user: HeaderValue,
    pub email: HeaderValue,
    pub group_id: HeaderValue,
    pub group_name: HeaderValue,
    /// All of [`IDENTITY_HEADERS`] as written on the wire, `name: value\r\n` each: the
    /// proxy-auth connection loop copies this in one go (`http::proxy_auth_conn`).
    lines: Box<[u8]>,
}

/// Which of a person's values an identity header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityField {
    User,
    Email,
    GroupId,
    GroupName,
}

/// The identity headers of a proxy-auth answer, in the order they are sent, names in lower
/// case as hyper writes them: Organizr's three, then the `Remote-*` set apps such as Grafana
/// and Calibre-Web read.
pub const IDENTITY_HEADERS: [(&str, IdentityField); 7] = [
    ("x-organizr-user", IdentityField::User),
    ("x-organizr-email", IdentityField::Email),
    ("x-organizr-group", IdentityField::GroupId),
    ("remote-user", IdentityField::User),
    ("remote-email", IdentityField::Email),
    ("remote-groups", IdentityField::GroupName),
    ("remote-name", IdentityField::User),
];

/// Appends one header as written on the wire: `name: value\r\n`.
pub fn push_header_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

impl IdentityHeaders {
    fn new(
        user: HeaderValue,
        email: HeaderValue,
        group_id: HeaderValue,
        group_name: HeaderValue,
    ) -> Self {
        let mut headers = IdentityHeaders {
            user,
            email,
            group_id,
            group_name,
            lines: Box::default(),
        };
        let mut lines = Vec::new();
        for (name, field) in IDENTITY_HEADERS {
            push_header_line(&mut lines, name, headers.value(field).as_bytes());
        }
        headers.lines = lines.into_boxed_slice();
        headers
    }

    /// The value a header of [`IDENTITY_HEADERS`] carries.
    pub fn value(&self, field: IdentityField) -> &HeaderValue {
        match field {
            IdentityField::User => &self.user,
            IdentityField::Email => &self.email,
            IdentityField::GroupId => &self.group_id,
            IdentityField::GroupName => &self.group_name,
        }
    }

    /// Every identity header as written on the wire, in order.
    pub fn lines(&self) -> &[u8] {
        &self.lines
    }
}

impl std::ops::Deref for SessionView {
    type Target = Person;

    fn deref(&self) -> &Person {
        &self.person
    }
}

impl SessionView {
    /// Builds the view with a person of its own; the header values are computed here, off the
    /// hot path. The cache swaps the person for the shared one when it keeps the view.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        session_id: i64,
        user_id: UserId,
        username: String,
        email: Option<String>,
        group_id: GroupId,
        group_name: String,
        locked: bool,
        expires_at: i64,
        last_seen: i64,
    ) -> Self {
        let headers = IdentityHeaders::new(
            header_value(&username),
            header_value(email.as_deref().unwrap_or("")),
            HeaderValue::from(group_id),
            list_item_header(&group_name),
        );
        SessionView {
            session_id,
            expires_at,
            last_seen: AtomicI64::new(last_seen),
            last_flushed: AtomicI64::new(last_seen),
            plex_sign_in: false,
            person: Arc::new(Person {
                user_id,
                username,
                email,
                group_id,
                group_name,
                locked,
                two_factor: false,
                headers,
            }),
        }
    }

    /// The two-factor facts of the session, read with it from the store.
    pub fn with_two_factor(mut self, two_factor: bool, plex_sign_in: bool) -> Self {
        // The person is still this view's own here, so this changes it in place.
        Arc::make_mut(&mut self.person).two_factor = two_factor;
        self.plex_sign_in = plex_sign_in;
        self
    }

    /// Whether the person must turn two-factor on before this session counts: their group is
    /// one it is required for (up to `required_up_to`) and it is off, unless Plex sign-ins skip
    /// it. Only field comparisons: this runs on the hot path.
    pub fn must_enrol(&self, required_up_to: GroupId, skip_for_plex: bool) -> bool {
        self.group_id <= required_up_to && !self.two_factor && !(skip_for_plex && self.plex_sign_in)
    }

    /// Records a use; cheap enough for the hot path (one relaxed load, rarely a store).
    pub fn touch(&self, now: i64) {
        if now - self.last_seen.load(Ordering::Relaxed) >= 30 {
            self.last_seen.store(now, Ordering::Relaxed);
        }
    }
}

/// UTF-8 names become obs-text header bytes, which nginx passes through unchanged; anything
/// that is not a valid header value (control characters) becomes empty rather than failing.
fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_bytes(s.as_bytes()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A value sent as one item of a list header (`Remote-Groups`): empty when it holds a list
/// separator, so a group stored before such names were refused never reads as two groups.
fn list_item_header(s: &str) -> HeaderValue {
    if super::names::has_list_separator(s) {
        return HeaderValue::from_static("");
    }
    header_value(s)
}

/// Hex form of a token hash, as stored.
pub fn hash_hex(hash: &TokenHash) -> String {
    hex::encode(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_roundtrip_through_cookie_check() {
        let t = SessionToken::generate();
        assert_eq!(t.expose().len(), TOKEN_CHARS);
        assert_eq!(hash_cookie_value(t.expose().as_bytes()), Some(t.hash()));
        assert_eq!(hash_cookie_value(b"short"), None);
        assert_eq!(hash_cookie_value(&[b'%'; TOKEN_CHARS]), None);
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn one_byte_outside_base64url_anywhere_refuses_the_cookie() {
        let good = [b'a'; TOKEN_CHARS];
        for at in [0, 1, 15, 16, 31, 32, TOKEN_CHARS - 1] {
            for b in 0..=255u8 {
                let mut value = good;
                value[at] = b;
                let base64url = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
                assert_eq!(
                    hash_cookie_value(&value).is_some(),
                    base64url,
                    "{b:#x} at {at}"
                );
            }
        }
    }
}
