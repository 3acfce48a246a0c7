//! `usher group …` and `usher tab …`: the same Core calls the admin JSON API makes
//! (src/http/api/groups.rs, src/http/api/tabs.rs), so validation, the audit log and the change
//! feed a running server follows are identical.

use anyhow::{anyhow, bail};
use clap::{ArgAction, Subcommand};
use usher::auth::tabs::TabInput;
use usher::auth::AuthError;
use usher::core::Core;
use usher::domain::{GroupId, Tab};
use usher::store::Actor;

/// The text of [`GROUP_NUMBERS`], as a literal so [`TAB_VISIBILITY`] can include it.
macro_rules! group_numbers {
    () => {
        "Group numbers (as in Organizr; a lower number is more privileged): 0 Admin, \
1 Co-Admin, 2 Super User, 3 Power User, 4 User, 5-997 custom groups, 998 anyone signed in \
(proxy-auth URLs only), 999 Guest (everyone, signed in or not)."
    };
}

/// What group numbers mean, shown after the help of the group commands.
pub const GROUP_NUMBERS: &str = group_numbers!();

/// The group numbers and Organizr's tab visibility rule, shown after the help of the tab
/// commands.
pub const TAB_VISIBILITY: &str = concat!(
    group_numbers!(),
    "\n\nA member of group G sees a tab on the portal when the tab is enabled and \
group-max <= G <= group (Organizr's rule: group_id_max <= G <= group_id). The defaults \
(--group-max 0, --group the default group, normally 4 User) show it to that group and every \
more privileged one. A proxy-auth URL naming the tab (/api/v2/auth/TABNAME) lets in whoever is \
signed in with a group number <= group, whether the tab is enabled or not."
);

#[derive(Subcommand, Debug)]
pub enum GroupAction {
    /// Every group: number, name, and which one new accounts join (the default).
    List,
    /// Add a custom group (numbers 5–997).
    #[command(after_help = GROUP_NUMBERS)]
    Add {
        /// Group name (1–64 characters, unique ignoring case).
        name: String,
        /// Group number, 5–997 [default: the lowest free number from 5]
        #[arg(long, value_name = "N")]
        id: Option<GroupId>,
    },
    /// Rename a group; built-in groups (0–4, 999) may be renamed too.
    ///
    /// Signed-in members see the new name (e.g. in the Remote-Groups header) within seconds.
    Rename {
        /// Group number, as shown by `usher group list`.
        id: GroupId,
        /// New name (1–64 characters, unique ignoring case).
        name: String,
    },
    /// Make a group the one new accounts (and new Plex friends) join.
    ///
    /// An administrator group (0 or 1) cannot be the default.
    #[command(after_help = GROUP_NUMBERS)]
    Default {
        /// Group number, as shown by `usher group list`.
        id: GroupId,
    },
    /// Delete a custom group that nobody is in and that is not the default.
    Delete {
        /// Group number (5–997), as shown by `usher group list`.
        id: GroupId,
    },
}

#[derive(Subcommand, Debug)]
pub enum TabAction {
    /// Every tab in portal order: id, order, name, URL, the groups that see it, type, category,
    /// enabled.
    List,
    /// Add a tab at the end of the portal's order.
    ///
    /// The tab's name also works in proxy-auth URLs: /api/v2/auth/NAME lets in the members of
    /// --group and of every more privileged group.
    #[command(after_help = TAB_VISIBILITY)]
    Add {
        /// Tab name (1–64 characters, unique ignoring case, not only digits).
        name: String,
        /// Where the tab leads: an http:// or https:// URL, or a path on this host starting
        /// with /.
        url: String,
        /// Highest group number that sees the tab (Organizr's group_id) [default: the default
        /// group]
        #[arg(long, value_name = "N")]
        group: Option<GroupId>,
        /// Lowest group number that sees the tab (Organizr's group_id_max).
        #[arg(long, value_name = "N", default_value_t = 0)]
        group_max: GroupId,
        /// Open the app in a new browser window instead of inside the portal.
        #[arg(long)]
        new_window: bool,
        /// Category the portal files the tab under.
        #[arg(long, value_name = "C")]
        category: Option<String>,
        /// Icon: an image URL, or an icon name such as `fa fa-film`.
        #[arg(long, value_name = "URL")]
        icon: Option<String>,
        /// Add the tab switched off: hidden from the portal (its name still works in proxy-auth
        /// URLs, so the app behind it stays reachable).
        #[arg(long)]
        disabled: bool,
    },
    /// Change some fields of a tab; what is not given stays as it is.
    #[command(after_help = TAB_VISIBILITY)]
    Edit {
        /// Tab id, as shown by `usher tab list`.
        id: i64,
        /// New name (1–64 characters, unique ignoring case, not only digits).
        #[arg(long)]
        name: Option<String>,
        /// New target: an http:// or https:// URL, or a path on this host starting with /.
        #[arg(long)]
        url: Option<String>,
        /// Highest group number that sees the tab (Organizr's group_id).
        #[arg(long, value_name = "N")]
        group: Option<GroupId>,
        /// Lowest group number that sees the tab (Organizr's group_id_max).
        #[arg(long, value_name = "N")]
        group_max: Option<GroupId>,
        /// How the portal opens it: inside the portal, or in a new window.
        #[arg(long = "type", value_name = "TYPE", value_parser = ["iframe", "new_window"])]
        kind: Option<String>,
        /// New category.
        #[arg(long, value_name = "C", conflicts_with = "no_category")]
        category: Option<String>,
        /// Remove the category.
        #[arg(long)]
        no_category: bool,
        /// New icon: an image URL, or an icon name such as `fa fa-film`.
        #[arg(long, value_name = "URL", conflicts_with = "no_icon")]
        icon: Option<String>,
        /// Remove the icon.
        #[arg(long)]
        no_icon: bool,
        /// Switch the tab on.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Switch the tab off: hidden from the portal (its name still works in proxy-auth URLs).
        #[arg(long)]
        disable: bool,
    },
    /// Delete a tab; its name stops working in proxy-auth URLs at once.
    Delete {
        /// Tab id, as shown by `usher tab list`.
        id: i64,
    },
    /// Put the tabs in this order (the portal shows them left to right, top to bottom).
    Order {
        /// The id of every tab, each exactly once, in the new order.
        #[arg(required = true, num_args = 1.., action = ArgAction::Append)]
        ids: Vec<i64>,
    },
}

/// A Core refusal as a person reads it: `what: field: reason`, or "no such …" for a missing one.
fn refused(
    what: String,
    missing: impl FnOnce() -> String,
) -> impl FnOnce(AuthError) -> anyhow::Error {
    move |e| match e {
        AuthError::NotFound => anyhow!("{what}: {}", missing()),
        e => anyhow!("{what}: {e}"),
    }
}

/// Prints rows under a header, each column as wide as its widest cell.
fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header);
    for row in rows {
        line(row.each_ref().map(String::as_str));
    }
}

/// Runs `usher group ACTION`.
pub async fn group_command(core: &Core, action: &GroupAction) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match action {
        GroupAction::List => {
            let rows: Vec<[String; 3]> = core
                .store
                .list_groups()
                .await?
                .into_iter()
                .map(|g| {
                    let default = if g.is_default { "yes" } else { "" };
                    [g.id.to_string(), g.name, default.to_string()]
                })
                .collect();
            print_table(["id", "name", "default"], &rows);
        }
        GroupAction::Add { name, id } => {
            let g = core
                .create_group(*id, name, &actor)
                .await
                .map_err(refused(format!("cannot add group {name}"), String::new))?;
            println!("added group {} {}", g.id, g.name);
        }
        GroupAction::Rename { id, name } => {
            let g = core
                .rename_group(*id, name, &actor)
                .await
                .map_err(refused(format!("cannot rename group {id}"), || {
                    format!("there is no group {id}")
                }))?;
            println!("group {} is now named {}", g.id, g.name);
        }
        GroupAction::Default { id } => {
            let g = core.set_default_group(*id, &actor).await.map_err(refused(
                format!("cannot make group {id} the default"),
                || format!("there is no group {id}"),
            ))?;
            println!("new accounts now join group {} {}", g.id, g.name);
        }
        GroupAction::Delete { id } => {
            core.delete_group(*id, &actor)
                .await
                .map_err(refused(format!("cannot delete group {id}"), || {
                    format!("there is no group {id}")
                }))?;
            println!("group {id} deleted");
        }
    }
    Ok(())
}

/// A tab's `groups` cell: the range of group numbers that see it, lowest first.
fn groups_cell(t: &Tab) -> String {
    format!("{}-{}", t.group_id_max, t.group_id)
}

/// One line describing a tab after a change.
fn describe(t: &Tab) -> String {
    format!(
        "tab {} {} ({}, groups {}, {}{})",
        t.id,
        t.name,
        t.url,
        groups_cell(t),
        t.kind.as_str(),
        if t.enabled { "" } else { ", disabled" }
    )
}

/// Runs `usher tab ACTION`.
pub async fn tab_command(core: &Core, action: &TabAction) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match action {
        TabAction::List => {
            let rows: Vec<[String; 8]> = core
                .store
                .list_tabs()
                .await?
                .iter()
                .map(|t| {
                    [
                        t.id.to_string(),
                        t.order.to_string(),
                        t.name.clone(),
                        t.url.clone(),
                        groups_cell(t),
                        t.kind.as_str().to_string(),
                        t.category.clone().unwrap_or_default(),
                        if t.enabled { "yes" } else { "no" }.to_string(),
                    ]
                })
                .collect();
            print_table(
                [
                    "id", "order", "name", "url", "groups", "type", "category", "enabled",
                ],
                &rows,
            );
        }
        TabAction::Add {
            name,
            url,
            group,
            group_max,
            new_window,
            category,
            icon,
            disabled,
        } => {
            let group = match group {
                Some(g) => *g,
                None => core.store.default_group().await?,
            };
            let input = TabInput {
                name: Some(name.clone()),
                url: Some(url.clone()),
                icon: icon.clone().map(Some),
                group_id: Some(group),
                group_id_max: Some(*group_max),
                kind: Some(if *new_window { "new_window" } else { "iframe" }.to_string()),
                category: category.clone().map(Some),
                enabled: Some(!disabled),
            };
            let tab = core
                .create_tab(input, &actor)
                .await
                .map_err(refused(format!("cannot add tab {name}"), String::new))?;
            println!("added {}", describe(&tab));
        }
        TabAction::Edit {
            id,
            name,
            url,
            group,
            group_max,
            kind,
            category,
            no_category,
            icon,
            no_icon,
            enable,
            disable,
        } => {
            let cleared = |value: &Option<String>, clear: bool| {
                if clear {
                    Some(None)
                } else {
                    value.clone().map(Some)
                }
            };
            let input = TabInput {
                name: name.clone(),
                url: url.clone(),
                icon: cleared(icon, *no_icon),
                group_id: *group,
                group_id_max: *group_max,
                kind: kind.clone(),
                category: cleared(category, *no_category),
                enabled: (*enable || *disable).then_some(*enable),
            };
            if input.name.is_none()
                && input.url.is_none()
                && input.icon.is_none()
                && input.group_id.is_none()
                && input.group_id_max.is_none()
                && input.kind.is_none()
                && input.category.is_none()
                && input.enabled.is_none()
            {
                bail!("cannot change tab {id}: nothing to change (see `usher tab edit --help`)");
            }
            let tab = core
                .edit_tab(*id, input, &actor)
                .await
                .map_err(refused(format!("cannot change tab {id}"), || {
                    format!("there is no tab {id}")
                }))?;
            println!("changed {}", describe(&tab));
        }
        TabAction::Delete { id } => {
            let missing = || format!("there is no tab {id}");
            let tab = core
                .store
                .get_tab(*id)
                .await?
                .ok_or_else(|| anyhow!("cannot delete tab {id}: {}", missing()))?;
            core.delete_tab(*id, &actor)
                .await
                .map_err(refused(format!("cannot delete tab {id}"), missing))?;
            println!("deleted tab {} {}", tab.id, tab.name);
        }
        TabAction::Order { ids } => {
            let tabs = core
                .reorder_tabs(ids, &actor)
                .await
                .map_err(refused("cannot reorder the tabs".to_string(), || {
                    "a tab was deleted meanwhile; run `usher tab list` and try again".to_string()
                }))?;
            let order: Vec<String> = tabs
                .iter()
                .map(|t| format!("{} {}", t.id, t.name))
                .collect();
            println!("tab order: {}", order.join(", "));
        }
    }
    Ok(())
}
