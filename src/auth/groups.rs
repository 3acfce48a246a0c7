//! Group administration shared by the admin API and the CLI: rename any group, add
//! and delete custom groups (5–997), choose the default group.

use crate::core::Core;
use crate::domain::group::{check_default_group, GUEST};
use crate::domain::names;
use crate::domain::tab::FieldError;
use crate::domain::{Group, GroupId};
use crate::store::{Actor, StoreError};

use super::AuthError;

/// First and last number of a custom group (0–4 and 999 are built in, 998 means "anyone
/// signed in" in proxy-auth URLs).
pub const CUSTOM_GROUPS: std::ops::RangeInclusive<GroupId> = 5..=997;

/// Longest group name.
const MAX_GROUP_NAME_CHARS: usize = 64;

/// A group name: 1–64 characters, no spaces at either end, no control or invisible characters,
/// and no list separator (`,` `;`): `Remote-Groups` is a comma-separated list to apps that
/// follow Authelia, so `Friends, admins` would read as two groups.
pub fn validate_group_name(name: &str) -> Result<(), FieldError> {
    let count = name.chars().count();
    if count == 0
        || count > MAX_GROUP_NAME_CHARS
        || name.trim() != name
        || names::has_invisible(name)
    {
        return Err(FieldError::new(
            "name",
            format!("must be 1 to {MAX_GROUP_NAME_CHARS} characters without spaces at either end, control or invisible characters"),
        ));
    }
    if names::has_list_separator(name) {
        return Err(FieldError::new(
            "name",
            "may not contain ',' or ';': apps read the Remote-Groups header as a list separated by them",
        ));
    }
    Ok(())
}

fn conflict(e: StoreError, id: GroupId) -> AuthError {
    match e {
        StoreError::Conflict("name") => AuthError::FieldConflict(FieldError::new(
            "name",
            "another group already has this name (names are compared ignoring case)",
        )),
        StoreError::Conflict("id") => {
            AuthError::FieldConflict(FieldError::new("id", format!("group {id} already exists")))
        }
        other => other.into(),
    }
}

impl Core {
    /// Adds a custom group; without `id`, the lowest free number from 5.
    pub async fn create_group(
        &self,
        id: Option<GroupId>,
        name: &str,
        actor: &Actor,
    ) -> Result<Group, AuthError> {
        validate_group_name(name)?;
        let groups = self.store.list_groups().await?;
        let id = match id {
            Some(id) if !CUSTOM_GROUPS.contains(&id) => return Err(FieldError::new(
                "id",
                "custom groups are numbered 5 to 997 (0–4 and 999 are built in, 998 is reserved)",
            )
            .into()),
            Some(id) => id,
            None => CUSTOM_GROUPS
                .clone()
                .find(|n| groups.iter().all(|g| g.id != *n))
                .ok_or_else(|| {
                    AuthError::FieldConflict(FieldError::new("id", "every number 5–997 is in use"))
                })?,
        };
        self.store
            .create_group(id, name, actor)
            .await
            .map_err(|e| conflict(e, id))?;
        tracing::info!(group = id, name, "group created");
        self.group(id).await
    }

    /// Renames any group (built-in ones too, as Organizr allows).
    pub async fn rename_group(
        &self,
        id: GroupId,
        name: &str,
        actor: &Actor,
    ) -> Result<Group, AuthError> {
        validate_group_name(name)?;
        self.store
            .rename_group(id, name, actor)
            .await
            .map_err(|e| conflict(e, id))?;
        // Cached sessions carry the group's name (Remote-Groups header).
        self.sessions.invalidate_all();
        tracing::info!(group = id, name, "group renamed");
        self.group(id).await
    }

    /// Makes a group the default for new accounts. Not an admin group: every new Plex friend
    /// would become an administrator ([`check_default_group`], as for `plex.default_group`).
    pub async fn set_default_group(&self, id: GroupId, actor: &Actor) -> Result<Group, AuthError> {
        check_default_group(id).map_err(|reason| FieldError::new("is_default", reason))?;
        self.store.set_default_group(id, actor).await?;
        tracing::info!(group = id, "default group changed");
        self.group(id).await
    }

    /// Deletes a custom group that nobody is in and that is not the default.
    pub async fn delete_group(&self, id: GroupId, actor: &Actor) -> Result<(), AuthError> {
        let group = self.group(id).await?;
        if !CUSTOM_GROUPS.contains(&id) {
            return Err(AuthError::FieldConflict(FieldError::new(
                "id",
                "built-in groups (0–4 and 999) cannot be deleted; rename them instead",
            )));
        }
        if group.is_default {
            return Err(AuthError::FieldConflict(FieldError::new(
                "is_default",
                "this is the default group; make another group the default first",
            )));
        }
        if !self.store.delete_group(id, actor).await? {
            let n = self.store.count_group_members(id).await?;
            return Err(AuthError::FieldConflict(FieldError::new(
                "id",
                format!("{n} user(s) are in this group; move them to another group first"),
            )));
        }
        tracing::info!(group = id, "group deleted");
        Ok(())
    }

    /// One group by number.
    pub async fn group(&self, id: GroupId) -> Result<Group, AuthError> {
        if !(0..=GUEST).contains(&id) {
            return Err(AuthError::NotFound);
        }
        self.store
            .list_groups()
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or(AuthError::NotFound)
    }
}
