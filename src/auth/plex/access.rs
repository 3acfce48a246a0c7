//! Who may enter: the owner always; others only from the owner's friends list, matched by numeric
//! Plex account id (never by username: managed Home users have none, and usernames change), and
//! with strict friends only when the chosen Plex Machine is shared with them.

use std::collections::HashMap;
use std::time::Instant;

use crate::plex::{PlexAccount, PlexFriend};
use crate::settings::PlexSettings;

/// The owner's account and friends as plex.tv last listed them.
#[derive(Debug)]
pub struct FriendsSnapshot {
    pub(super) token_fingerprint: [u8; 32],
    pub(super) fetched: Instant,
    /// The account id of the token's owner (the server owner).
    pub owner_id: i64,
    pub friends: HashMap<i64, PlexFriend>,
}

impl FriendsSnapshot {
    pub(super) fn new(
        token_fingerprint: [u8; 32],
        fetched: Instant,
        owner: &PlexAccount,
        friends: Vec<PlexFriend>,
    ) -> Self {
        FriendsSnapshot {
            token_fingerprint,
            fetched,
            owner_id: owner.id,
            friends: friends.into_iter().map(|f| (f.id, f)).collect(),
        }
    }
}

/// Who a Plex account is to this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The server owner (by account id, or by `plex.admin`).
    Owner,
    /// A friend allowed by the rules in force.
    Friend,
    /// Not allowed, and why (in words for the person and the log).
    Denied(String),
}

/// The parts of an identity the decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub plex_id: i64,
    pub username: &'a str,
    /// The e-mail address, only when plex.tv says it is confirmed: anyone can register a Plex
    /// account with somebody else's address, but cannot confirm it.
    pub confirmed_email: Option<&'a str>,
}

impl<'a> From<&'a PlexAccount> for Who<'a> {
    fn from(a: &'a PlexAccount) -> Self {
        Who {
            plex_id: a.id,
            username: &a.username,
            confirmed_email: a.email.as_deref().filter(|_| !a.email_unconfirmed),
        }
    }
}

/// True when `plex.admin` names this account (case-insensitively): by its confirmed e-mail, or
/// by its username. `owner_id` is the owner's account id when the owner's token could be read.
///
/// A username names an account only while the owner's id is unknown (no token saved yet, or
/// plex.tv refusing it): a Plex username belongs to one account at a time, but a renamed owner's
/// old name can be taken by someone else, so once the id is known the id decides.
pub fn is_named_admin(who: Who<'_>, settings: &PlexSettings, owner_id: Option<i64>) -> bool {
    let Some(admin) = settings.admin.as_deref().map(str::trim) else {
        return false;
    };
    let same = |s: &str| !s.is_empty() && s.to_lowercase() == admin.to_lowercase();
    let by_username = same(who.username) && owner_id.is_none_or(|id| id == who.plex_id);
    by_username || who.confirmed_email.is_some_and(same)
}

/// The decision for one account, given the friends list.
pub fn decide(who: Who<'_>, snapshot: &FriendsSnapshot, settings: &PlexSettings) -> Access {
    if who.plex_id == snapshot.owner_id || is_named_admin(who, settings, Some(snapshot.owner_id)) {
        return Access::Owner;
    }
    let Some(friend) = snapshot.friends.get(&who.plex_id) else {
        return Access::Denied("it is not on the server owner's Plex friends list".into());
    };
    if !settings.strict_friends {
        return Access::Friend;
    }
    match settings.machine_id.as_deref() {
        None => Access::Denied(
            "strict Plex friends is on but no Plex Machine is chosen; an administrator must choose one".into(),
        ),
        Some(machine) if friend.has_share_on(machine) => Access::Friend,
        Some(_) => Access::Denied("the owner's Plex server is not shared with it".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plex::PlexShare;

    fn settings(strict: bool, machine: Option<&str>, admin: Option<&str>) -> PlexSettings {
        let mut s = crate::settings::Settings::default().plex;
        s.strict_friends = strict;
        s.machine_id = machine.map(str::to_string);
        s.admin = admin.map(str::to_string);
        s
    }

    fn friend(id: i64, username: &str, machines: &[&str]) -> PlexFriend {
        PlexFriend {
            id,
            username: username.into(),
            title: username.into(),
            email: None,
            thumb: None,
            home: false,
            restricted: false,
            protected: false,
            servers: machines
                .iter()
                .map(|m| PlexShare {
                    share_id: None,
                    server_id: None,
                    machine_identifier: m.to_string(),
                    name: "S".into(),
                    pending: false,
                    all_libraries: true,
                })
                .collect(),
        }
    }

    fn snapshot() -> FriendsSnapshot {
        FriendsSnapshot {
            token_fingerprint: [0; 32],
            fetched: Instant::now(),
            owner_id: 1,
            friends: [
                friend(2, "friendly", &["A"]),
                friend(3, "elsewhere", &["B"]),
            ]
            .into_iter()
            .map(|f| (f.id, f))
            .collect(),
        }
    }

    fn who(plex_id: i64, username: &'static str) -> Who<'static> {
        Who {
            plex_id,
            username,
            confirmed_email: None,
        }
    }

    #[test]
    fn owner_friends_and_strangers() {
        let snap = snapshot();
        let strict = settings(true, Some("A"), None);
        let loose = settings(false, Some("A"), None);
        assert_eq!(decide(who(1, "owner"), &snap, &strict), Access::Owner);
        assert_eq!(decide(who(2, "x"), &snap, &strict), Access::Friend);
        assert!(matches!(
            decide(who(3, "elsewhere"), &snap, &strict),
            Access::Denied(_)
        ));
        assert_eq!(decide(who(3, "elsewhere"), &snap, &loose), Access::Friend);
        assert!(matches!(
            decide(who(9, "friendly"), &snap, &loose),
            Access::Denied(_)
        ));
        let no_machine = settings(true, None, None);
        assert!(
            matches!(decide(who(2, "friendly"), &snap, &no_machine), Access::Denied(m) if m.contains("Plex Machine"))
        );
    }

    #[test]
    fn named_admin_by_username_or_email() {
        let snap = snapshot();
        let s = settings(true, Some("A"), Some("Boss@Example.com"));
        let by_mail = Who {
            plex_id: 7,
            username: "boss",
            confirmed_email: Some("boss@example.COM"),
        };
        assert_eq!(decide(by_mail, &snap, &s), Access::Owner);
        // By username only while the owner's id is unknown, or when it is the owner's id.
        let s = settings(true, Some("A"), Some("boss"));
        assert!(is_named_admin(who(7, "BOSS"), &s, None));
        assert!(!is_named_admin(who(7, "BOSS"), &s, Some(1)));
        assert!(matches!(
            decide(who(7, "BOSS"), &snap, &s),
            Access::Denied(_)
        ));
        assert_eq!(decide(who(1, "BOSS"), &snap, &s), Access::Owner);
        // An empty username never matches (managed users have none).
        let s = settings(true, Some("A"), Some(""));
        assert!(matches!(decide(who(7, ""), &snap, &s), Access::Denied(_)));
    }

    #[test]
    fn an_unconfirmed_email_never_names_the_admin() {
        let snap = snapshot();
        let s = settings(true, Some("A"), Some("boss@example.com"));
        let mut account = crate::plex::PlexAccount {
            id: 7,
            uuid: String::new(),
            username: "impostor".into(),
            title: "impostor".into(),
            email: Some("boss@example.com".into()),
            thumb: None,
            token: crate::plex::PlexToken::new("t"),
            two_factor_enabled: false,
            email_unconfirmed: true,
            home: false,
            home_admin: false,
            restricted: false,
            guest: false,
            protected: false,
        };
        assert!(!is_named_admin(Who::from(&account), &s, None));
        assert!(matches!(
            decide(Who::from(&account), &snap, &s),
            Access::Denied(_)
        ));
        account.email_unconfirmed = false;
        assert!(is_named_admin(Who::from(&account), &s, Some(1)));
    }
}
