//! Groups, numbered as in Organizr: a lower number is more privileged.

use serde::Serialize;

/// A group number: 0 Admin, 1 Co-Admin, 2 Super User, 3 Power User, 4 User, 5–997 custom, 999 Guest.
pub type GroupId = i64;

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
