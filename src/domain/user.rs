//! Users and the rules for their names, emails and passwords.

use serde::Serialize;

use super::names::{has_invisible, name_key};
use super::GroupId;

/// Database id of a user.
pub type UserId = i64;

/// Longest username accepted (Organizr: 50; we allow a little more for Plex emails used as names).
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest email accepted (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Shortest password a local account may have.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted; bounds hashing work.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A person who can sign in.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: Option<String>,
    pub group_id: GroupId,
    pub group_name: String,
    pub locked: bool,
    pub image: Option<String>,
    pub created_at: i64,
    /// Whether a local password is set (the hash itself never leaves the store layer).
    pub has_password: bool,
    /// The plex.tv account id this user is linked to, if any.
    pub plex_id: Option<i64>,
}

/// What is needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub group_id: GroupId,
    pub image: Option<String>,
    /// An administrator gives a retired name (of a deleted or renamed account) to this one on
    /// purpose: apps behind Usher that key on the name will take it for the old person.
    pub reuse_retired_name: bool,
}

/// Why a username, email or password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("username must be 1 to {MAX_USERNAME_CHARS} characters")]
    UsernameLength,
    #[error("username may not contain spaces at either end, control characters, '/' or '@' (nor characters that look like '/' or '@')")]
    UsernameChars,
    #[error("username may not contain invisible or direction-changing characters (zero-width space, soft hyphen, byte-order mark, bidi controls)")]
    UsernameInvisible,
    #[error("email must look like name@host and be at most {MAX_EMAIL_CHARS} characters")]
    Email,
    #[error("email may not contain invisible or direction-changing characters (zero-width space, soft hyphen, byte-order mark, bidi controls)")]
    EmailInvisible,
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordLength,
    #[error("group {0} does not exist or cannot be assigned")]
    Group(GroupId),
}

/// Checks a username: any script is fine (look-alikes are caught by
/// [`name_key`](super::names::name_key) against the other names), but no characters that would
/// confuse headers, paths or the username-or-email login field, and none that do not show.
pub fn validate_username(name: &str) -> Result<(), InvalidInput> {
    let count = name.chars().count();
    if count == 0 || count > MAX_USERNAME_CHARS {
        return Err(InvalidInput::UsernameLength);
    }
    if has_invisible(name) {
        return Err(InvalidInput::UsernameInvisible);
    }
    let refused = |c: char| c == '/' || c == '@';
    if name.trim() != name || name.chars().any(refused) || name_key(name).chars().any(refused) {
        return Err(InvalidInput::UsernameChars);
    }
    Ok(())
}

/// Checks an email address loosely: one '@', something on both sides, no spaces or controls,
/// nothing invisible.
pub fn validate_email(email: &str) -> Result<(), InvalidInput> {
    if has_invisible(email) {
        return Err(InvalidInput::EmailInvisible);
    }
    let ok = email.len() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::Email)
    }
}

/// Checks a new password's length.
pub fn validate_password(password: &str) -> Result<(), InvalidInput> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(InvalidInput::PasswordLength);
    }
    Ok(())
}

/// The case-folded form used for uniqueness and lookup.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("Zoë 日本").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username(" alice").is_err());
        assert!(validate_username("a\u{0}b").is_err());
        assert!(validate_username("a@b").is_err());
        assert!(validate_username(&"x".repeat(65)).is_err());
        // A look-alike of '/' is refused like '/'.
        assert_eq!(
            validate_username("a\u{2215}b"),
            Err(InvalidInput::UsernameChars)
        );
    }

    #[test]
    fn invisible_characters_in_usernames_and_emails_are_refused() {
        for c in [
            '\u{200b}', '\u{ad}', '\u{feff}', '\u{202e}', '\u{2067}', '\u{200e}',
        ] {
            assert_eq!(
                validate_username(&format!("admin{c}")),
                Err(InvalidInput::UsernameInvisible),
                "{:04x}",
                c as u32
            );
            assert_eq!(
                validate_email(&format!("ad{c}min@example.com")),
                Err(InvalidInput::EmailInvisible)
            );
        }
        // Look-alikes are valid on their own; the store refuses them next to the real name.
        assert!(validate_username("\u{430}dmin").is_ok());
        assert!(validate_username("adm\u{131}n").is_ok());
    }

    #[test]
    fn emails() {
        assert!(validate_email("a@b.c").is_ok());
        assert!(validate_email("a b@c").is_err());
        assert!(validate_email("@c").is_err());
        assert!(validate_email("a@").is_err());
        assert!(validate_email("a@b@c").is_err());
    }
}
