//! Tab administration and the portal's list: validation, the in-memory name index proxy auth
//! reads, and Organizr's visibility rule.

use crate::core::Core;
use crate::domain::tab::{
    validate_category, validate_groups, validate_icon, validate_name, validate_url, FieldError,
};
use crate::domain::{GroupId, Tab, TabKind};
use crate::store::{Actor, StoreError, TabFields};

use super::AuthError;

/// A tab as an admin sends it; `None` keeps the current value (on create: the default).
/// `icon`/`category`: `Some(None)` or an empty string clears.
#[derive(Debug, Clone, Default)]
pub struct TabInput {
    pub name: Option<String>,
    pub url: Option<String>,
    pub icon: Option<Option<String>>,
    pub group_id: Option<GroupId>,
    pub group_id_max: Option<GroupId>,
    pub kind: Option<String>,
    pub category: Option<Option<String>>,
    pub enabled: Option<bool>,
}

fn required<T>(v: Option<T>, field: &'static str) -> Result<T, FieldError> {
    v.ok_or_else(|| FieldError::new(field, "is required"))
}

/// An optional text: trimmed, empty means none.
fn optional(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl TabInput {
    /// Merges onto `current` (or the defaults for a new tab) and validates every field.
    fn merge(self, current: Option<&Tab>) -> Result<TabFields, FieldError> {
        let name = match (self.name, current) {
            (Some(n), _) => n,
            (None, Some(t)) => t.name.clone(),
            (None, None) => return Err(FieldError::new("name", "is required")),
        };
        let url = match (self.url, current) {
            (Some(u), _) => u.trim().to_string(),
            (None, Some(t)) => t.url.clone(),
            (None, None) => required(None, "url")?,
        };
        let icon = match self.icon {
            Some(i) => optional(i),
            None => current.and_then(|t| t.icon.clone()),
        };
        let category = match self.category {
            Some(c) => optional(c),
            None => current.and_then(|t| t.category.clone()),
        };
        let group_id = match (self.group_id, current) {
            (Some(g), _) => g,
            (None, Some(t)) => t.group_id,
            (None, None) => required(None, "group_id")?,
        };
        let group_id_max = self
            .group_id_max
            .or(current.map(|t| t.group_id_max))
            .unwrap_or(0);
        let kind = match self.kind {
            Some(k) => TabKind::parse(&k)
                .ok_or_else(|| FieldError::new("type", "must be \"iframe\" or \"new_window\""))?,
            None => current.map(|t| t.kind).unwrap_or(TabKind::Iframe),
        };
        validate_name(&name)?;
        validate_url("url", &url)?;
        if let Some(i) = &icon {
            validate_icon(i)?;
        }
        if let Some(c) = &category {
            validate_category(c)?;
        }
        validate_groups(group_id, group_id_max)?;
        Ok(TabFields {
            name,
            url,
            icon,
            group_id,
            group_id_max,
            kind,
            category,
            enabled: self.enabled.or(current.map(|t| t.enabled)).unwrap_or(true),
        })
    }
}

fn name_conflict(e: StoreError) -> AuthError {
    match e {
        StoreError::Conflict("name") => AuthError::FieldConflict(FieldError::new(
            "name",
            "another tab already has this name (names are compared ignoring case)",
        )),
        other => other.into(),
    }
}

impl Core {
    /// Re-reads the tabs and swaps in a fresh name index for proxy auth.
    pub async fn reload_tabs(&self) -> Result<(), AuthError> {
        let tabs = self.store.list_tabs().await?;
        self.set_tab_index(&tabs);
        Ok(())
    }

    /// Adds a tab at the end of the order.
    pub async fn create_tab(&self, input: TabInput, actor: &Actor) -> Result<Tab, AuthError> {
        let fields = input.merge(None)?;
        let tab = self
            .store
            .create_tab(&fields, actor)
            .await
            .map_err(name_conflict)?;
        self.reload_tabs().await?;
        tracing::info!(tab = %tab.name, "tab created");
        Ok(tab)
    }

    /// Changes some fields of a tab.
    pub async fn edit_tab(
        &self,
        id: i64,
        input: TabInput,
        actor: &Actor,
    ) -> Result<Tab, AuthError> {
        let current = self.store.get_tab(id).await?.ok_or(AuthError::NotFound)?;
        let fields = input.merge(Some(&current))?;
        let tab = self
            .store
            .update_tab(id, &fields, actor)
            .await
            .map_err(name_conflict)?;
        self.reload_tabs().await?;
        tracing::info!(tab = %tab.name, "tab changed");
        Ok(tab)
    }

    /// Deletes a tab.
    pub async fn delete_tab(&self, id: i64, actor: &Actor) -> Result<(), AuthError> {
        self.store.delete_tab(id, actor).await?;
        self.reload_tabs().await?;
        tracing::info!(tab_id = id, "tab deleted");
        Ok(())
    }

    /// Puts the tabs in this order; `ids` must name every tab exactly once.
    pub async fn reorder_tabs(&self, ids: &[i64], actor: &Actor) -> Result<Vec<Tab>, AuthError> {
        let mut current: Vec<i64> = self.store.list_tabs().await?.iter().map(|t| t.id).collect();
        let mut wanted = ids.to_vec();
        current.sort_unstable();
        wanted.sort_unstable();
        if current != wanted {
            return Err(
                FieldError::new("ids", "must list the id of every tab exactly once").into(),
            );
        }
        self.store.reorder_tabs(ids, actor).await?;
        self.reload_tabs().await?;
        Ok(self.store.list_tabs().await?)
    }

    /// The tabs a member of `group` sees on the portal, in order.
    pub async fn tabs_for(&self, group: GroupId) -> Result<Vec<Tab>, AuthError> {
        let mut tabs = self.store.list_tabs().await?;
        tabs.retain(|t| t.visible_to(group));
        Ok(tabs)
    }
}
