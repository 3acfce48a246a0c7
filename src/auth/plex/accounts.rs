//! The local user behind a Plex account: found by Plex id, else linked by the same e-mail, else
//! created in `plex.default_group`. Never by username alone: a Plex user called "admin" must not
//! become the local admin. A local password is never written or changed here.
//!
//! A new account's name is the Plex username. When that name is already held or was held by a
//! deleted or renamed account, the new one is `NAME-plex`; when it only *looks like* a held or
//! retired name (`аdmin`, `admın`, `ſam`), or holds invisible characters, the sign-in is refused
//! with a reason: merging, renaming into a look-alike or inheriting an old identity is never done
//! silently. An administrator resolves it by creating the person's account with their Plex e-mail,
//! which the next sign-in links.

use crate::auth::AuthError;
use crate::core::Core;
use crate::domain::names::{has_invisible, normalise};
use crate::domain::user::{fold, validate_email, validate_username, MAX_USERNAME_CHARS};
use crate::domain::User;
use crate::plex::PlexAccount;
use crate::store::{Actor, NewPlexUser, PlexLink};

impl Core {
    /// Finds, links or creates the local user for a Plex account, storing its token encrypted.
    /// `is_owner`: the account is the server owner, the only one linked to an administrator's
    /// Usher account by e-mail (a friend could set their Plex e-mail to the admin's).
    pub(crate) async fn plex_user(
        &self,
        account: &PlexAccount,
        is_owner: bool,
        actor: &Actor,
    ) -> Result<User, AuthError> {
        let email = account
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| validate_email(e).is_ok());
        // Only an address plex.tv has confirmed may find an existing account or be stored.
        let email = email.filter(|_| !account.email_unconfirmed);
        let link = |email: Option<String>| PlexLink {
            plex_id: account.id,
            plex_username: account.username.clone(),
            token_encrypted: self.secret_key.encrypt(account.token.expose()),
            email,
            image: account.thumb.clone(),
        };
        if let Some(user) = self.store.find_user_by_plex_id(account.id).await? {
            let new_email = match email {
                Some(e) if user.email.as_deref().map(fold) != Some(fold(e)) => {
                    // Follow a changed Plex e-mail unless another user holds it or one like it.
                    let free = self.store.find_user_by_email(e).await?.is_none()
                        && self.email_look_alike(e, Some(user.id)).await?.is_none();
                    free.then(|| e.to_string())
                }
                _ => None,
            };
            return Ok(self
                .store
                .link_plex(user.id, &link(new_email), actor)
                .await?);
        }
        if let Some(e) = email {
            if let Some(user) = self.store.find_user_by_email(e).await? {
                // The same Plex id here means a simultaneous first sign-in just created it.
                if user.plex_id.is_some_and(|id| id != account.id) {
                    return Err(AuthError::PlexNotAllowed(
                        "the Usher account with this e-mail is linked to another Plex account"
                            .into(),
                    ));
                }
                if crate::domain::group::is_admin(user.group_id) && !is_owner {
                    tracing::warn!(user = %user.username, plex_id = account.id, "not linking a Plex friend to an administrator by e-mail");
                    return Err(AuthError::PlexNotAllowed(
                        "the Usher account with this e-mail is an administrator; only the server owner's Plex account is linked to it automatically".into(),
                    ));
                }
                let linked = self.store.link_plex(user.id, &link(None), actor).await?;
                tracing::info!(user = %linked.username, plex_id = account.id, "linked to a Plex account by e-mail");
                return Ok(linked);
            }
        }
        let group_id = self.plex_default_group().await?;
        let base = username_for(account).ok_or_else(|| {
            tracing::warn!(plex_id = account.id, "Plex username holds invisible characters; not creating an account");
            AuthError::PlexNotAllowed(
                "your Plex name contains invisible or direction-changing characters, so Usher will not make an account from it; ask the administrator to create your account with your Plex e-mail address".into(),
            )
        })?;
        let mut username = base.clone();
        let mut n = 1;
        while self.name_held(&username, account.id).await? {
            n += 1;
            let suffix = format!(
                "-plex{}",
                if n == 2 { String::new() } else { n.to_string() }
            );
            let keep = MAX_USERNAME_CHARS - suffix.chars().count();
            username = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
            if n > 50 {
                username = format!("plex-{}", account.id);
                break;
            }
        }
        let email = match email {
            Some(e) => match self.email_look_alike(e, None).await? {
                Some(other) => {
                    tracing::warn!(plex_id = account.id, looks_like_email_of = %other, "Plex e-mail looks like another account's; the new account gets none");
                    None
                }
                None => Some(e),
            },
            None => None,
        };
        let new = NewPlexUser {
            username,
            email: email.map(str::to_string),
            group_id,
            link: link(None),
        };
        let user = match self.store.create_plex_user(&new, actor).await {
            Ok(user) => user,
            // Two first sign-ins of one Plex account at once: the other one created the user.
            Err(crate::store::StoreError::Conflict(_)) => {
                match self.store.find_user_by_plex_id(account.id).await? {
                    Some(user) => return Ok(user),
                    None => return Err(AuthError::Conflict("username")),
                }
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(user = %user.username, group = user.group_id, plex_id = account.id, "user created by a first Plex sign-in");
        Ok(user)
    }

    /// True when `name` is held or retired under the same name (the caller tries `NAME-plex`);
    /// `PlexNotAllowed` when a different name that looks like it is.
    async fn name_held(&self, name: &str, plex_id: i64) -> Result<bool, AuthError> {
        let claim = self.store.name_claim(name).await?;
        match claim {
            None => Ok(self.store.username_taken(name).await?),
            Some(claim) if fold(&claim.name) == fold(name) => Ok(true),
            Some(claim) => {
                tracing::warn!(plex_id, plex_name = %name, looks_like = %claim.name, retired = claim.retired, "Plex sign-in refused: its name looks like an existing or former Usher account");
                Err(AuthError::PlexNotAllowed(format!(
                    "your Plex name \"{name}\" looks like the name of another Usher account, so Usher will not make an account from it; ask the administrator to create your account with your Plex e-mail address"
                )))
            }
        }
    }

    /// The Plex token stored for a user at their last Plex sign-in, decrypted (for SSO apps that
    /// take a Plex token). `None` when they never signed in through Plex.
    pub async fn user_plex_token(
        &self,
        id: crate::domain::UserId,
    ) -> Result<Option<crate::plex::PlexToken>, AuthError> {
        let Some(stored) = self.store.plex_token_of(id).await? else {
            return Ok(None);
        };
        let plain = self.secret_key.decrypt(&stored).map_err(|e| {
            tracing::error!(user_id = id, error = %e, "stored Plex token cannot be decrypted");
            AuthError::Internal("the stored Plex token cannot be decrypted".into())
        })?;
        Ok(Some(crate::plex::PlexToken::from(plain)))
    }

    /// `plex.default_group` when it exists and new accounts may land in it (never an admin
    /// group), else the store's default group.
    async fn plex_default_group(&self) -> Result<i64, AuthError> {
        let wanted = self.settings().plex.default_group;
        let groups = self.store.list_groups().await?;
        let allowed = crate::domain::group::check_default_group(wanted).is_ok();
        if allowed && groups.iter().any(|g| g.id == wanted) {
            return Ok(wanted);
        }
        tracing::warn!(
            group = wanted,
            "plex.default_group does not exist or is an admin group; using the default group"
        );
        Ok(self.store.default_group().await?)
    }
}

/// A valid local username for a Plex account: its username, or a managed user's title (NFKC,
/// without '/' and '@'); `None` when it holds invisible characters.
fn username_for(account: &PlexAccount) -> Option<String> {
    let raw = if account.username.trim().is_empty() {
        account.title.trim()
    } else {
        account.username.trim()
    };
    let raw = normalise(raw);
    if has_invisible(&raw) {
        return None;
    }
    let cleaned: String = raw
        .chars()
        .filter(|c| *c != '/' && *c != '@')
        .take(MAX_USERNAME_CHARS - 8)
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() || validate_username(&cleaned).is_err() {
        Some(format!("plex-{}", account.id))
    } else {
        Some(cleaned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plex::PlexToken;

    fn account(username: &str, title: &str) -> PlexAccount {
        PlexAccount {
            id: 42,
            uuid: String::new(),
            username: username.into(),
            title: title.into(),
            email: None,
            thumb: None,
            token: PlexToken::new("t"),
            two_factor_enabled: false,
            email_unconfirmed: false,
            home: false,
            home_admin: false,
            restricted: false,
            guest: false,
            protected: false,
        }
    }

    #[test]
    fn usernames_from_plex() {
        let name = |u: &str, t: &str| username_for(&account(u, t));
        assert_eq!(name("friendly", "friendly").unwrap(), "friendly");
        assert_eq!(name("", "Kids").unwrap(), "Kids");
        assert_eq!(name("", "  ").unwrap(), "plex-42");
        assert_eq!(name("a@b/c", "").unwrap(), "abc");
        assert_eq!(name("\u{ff46}red", "").unwrap(), "fred", "NFKC");
        assert_eq!(name("admin\u{200b}", ""), None, "zero-width space");
        assert_eq!(name("", "Kids\u{202e}"), None, "bidi control");
        validate_username(&name(&"x".repeat(100), "").unwrap()).unwrap();
    }
}
