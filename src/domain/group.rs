//! Groups, numbered as in Organizr: a lower number is more privileged. The rules of who may
//! manage whom and which group new accounts may land in live here, once, for every caller.

use serde::Serialize;

/// A group number: 0 Admin, 1 Co-Admin, 2 Super User, 3 Power User, 4 User, 5–997 custom, 999 Guest.
pub type GroupId = i64;

/// The Admin group: the only one that may change what decides identity, secrets and trust.
pub const ADMIN: GroupId = 0;
/// Threshold meaning "any signed-in user" in proxy-auth URLs; not a real group.
pub const ANY_SIGNED_IN: GroupId = 998;
/// The guest group: everybody, signed in or not.
pub const GUEST: GroupId = 999;
/// Groups at or below this number may use the admin API.
pub const ADMIN_MAX: GroupId = 1;

/// A row of the groups table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub is_default: bool,
}

/// True when a group number is one a person may be put in (0–997 or 999).
pub fn is_assignable(id: GroupId) -> bool {
    (0..=997).contains(&id) || id == GUEST
}

/// True when a member of `group` may act as an administrator.
pub fn is_admin(group: GroupId) -> bool {
    (0..=ADMIN_MAX).contains(&group)
}

/// Who may manage whom: a member of `mine` may create, change, promote to, list the sessions of
/// and sign out members of `theirs` only when `theirs` is not more privileged than `mine` (a
/// Co-Admin never touches the Admin).
pub fn may_manage(mine: GroupId, theirs: GroupId) -> bool {
    theirs >= mine
}

/// Whether new accounts (the default group, `plex.default_group`) may land in `id`: never an
/// administrator group, or every new Plex friend would become one.
pub fn check_default_group(id: GroupId) -> Result<(), String> {
    if is_admin(id) {
        return Err(format!(
            "group {id} is an administrator group and cannot be the group of new accounts: every new account would be an admin"
        ));
    }
    if !is_assignable(id) {
        return Err(format!(
            "{id} is not a group people can be put in (2–997 or 999)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co_admins_stay_below_the_admin() {
        assert!(may_manage(0, 0) && may_manage(0, 1) && may_manage(1, 1) && may_manage(1, 4));
        assert!(!may_manage(1, 0));
        assert!(!may_manage(4, 1));
    }

    #[test]
    fn new_accounts_never_land_in_an_admin_group() {
        assert!(check_default_group(0).is_err());
        assert!(check_default_group(1)
            .unwrap_err()
            .contains("administrator"));
        assert!(check_default_group(998).is_err());
        assert!(check_default_group(-1).is_err());
        for ok in [2, 4, 5, 997, 999] {
            assert!(check_default_group(ok).is_ok(), "{ok}");
        }
    }
}
