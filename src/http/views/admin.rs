//! Administrators' pages: users (with their sessions), groups and tabs. Lists are rendered here;
//! every change goes through the JSON API (assets/app.js), which validates and answers per field.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::account::{session_rows, SessionRow};
use super::layout::{format_time, AdminPage, Nav, Page};
use super::{message, page};
use crate::auth::accounts::managed_sessions;
use crate::auth::AuthError;
use crate::core::Core;
use crate::domain::{Group, Tab};
use crate::http::extract::Client;

/// The answer when an admin page's data cannot be read.
pub(super) fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "admin page could not be read");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Page unavailable",
        "The data for this page could not be read; see Usher's log.",
        Some("/"),
    )
}

/// A `<option>`: value, label, selected.
type Opt = (i64, String, bool);

fn group_options(groups: &[Group], selected: i64) -> Vec<Opt> {
    groups
        .iter()
        .map(|g| (g.id, format!("{} ({})", g.name, g.id), g.id == selected))
        .collect()
}

/// A user's row on the users page.
struct UserRow {
    id: i64,
    username: String,
    email: String,
    group: String,
    groups: Vec<Opt>,
    locked: bool,
    plex: bool,
    /// Two-factor sign-in is on, and the viewer may reset it.
    two_factor_reset: bool,
    created: String,
    search: String,
    sessions: Vec<SessionRow>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserRow>,
    new_groups: Vec<Opt>,
}

/// `GET /users`.
pub async fn users_page(
    State(core): State<Arc<Core>>,
    Client(client): Client,
    Page(me): AdminPage,
) -> Response {
    let acting = me.acting(&client);
    let (users, groups, sessions, two_factor) = match tokio::try_join!(
        async { Ok::<_, AuthError>(core.store.list_users().await?) },
        async { Ok::<_, AuthError>(core.store.list_groups().await?) },
        // A Co-Admin is not shown the Admin's sessions (nor may end them).
        managed_sessions(&core.store, &acting),
        async { Ok::<_, AuthError>(core.store.users_with_two_factor().await?) }
    ) {
        Ok(all) => all,
        Err(e) => return failed(e),
    };
    let default = groups.iter().find(|g| g.is_default).map_or(4, |g| g.id);
    let users = users
        .into_iter()
        .map(|u| {
            let mine: Vec<_> = sessions
                .iter()
                .filter(|s| s.user_id == u.id)
                .cloned()
                .collect();
            let email = u.email.clone().unwrap_or_default();
            UserRow {
                id: u.id,
                search: format!("{} {} {}", u.username, email, u.group_name).to_lowercase(),
                username: u.username,
                email,
                group: format!("{} ({})", u.group_name, u.group_id),
                groups: group_options(&groups, u.group_id),
                locked: u.locked,
                plex: u.plex_id.is_some(),
                two_factor_reset: two_factor.contains(&u.id)
                    && crate::domain::group::may_manage(me.view.group_id, u.group_id),
                created: format_time(u.created_at),
                sessions: session_rows(mine, me.view.session_id),
            }
        })
        .collect();
    page(
        StatusCode::OK,
        UsersPage {
            nav: Nav::new(&me, "users"),
            users,
            new_groups: group_options(&groups, default),
        },
    )
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    nav: Nav,
    groups: Vec<Group>,
}

/// `GET /groups`.
pub async fn groups_page(State(core): State<Arc<Core>>, Page(me): AdminPage) -> Response {
    match core.store.list_groups().await {
        Ok(groups) => page(
            StatusCode::OK,
            GroupsPage {
                nav: Nav::new(&me, "groups"),
                groups,
            },
        ),
        Err(e) => failed(e),
    }
}

/// A tab's row on the tabs page.
struct TabRow {
    tab: Tab,
    min: Vec<Opt>,
    max: Vec<Opt>,
    who: String,
}

#[derive(Template)]
#[template(path = "tabs.html")]
struct TabsPage {
    nav: Nav,
    tabs: Vec<TabRow>,
    new_min: Vec<Opt>,
    new_max: Vec<Opt>,
}

/// Groups a tab can name: the real groups plus 998 ("anyone signed in").
fn tab_groups(groups: &[Group]) -> Vec<Group> {
    let mut all = groups.to_vec();
    if !all
        .iter()
        .any(|g| g.id == crate::domain::group::ANY_SIGNED_IN)
    {
        all.push(Group {
            id: crate::domain::group::ANY_SIGNED_IN,
            name: "Anyone signed in".into(),
            is_default: false,
        });
        all.sort_by_key(|g| g.id);
    }
    all
}

/// "User (4) to Admin (0)" in words.
fn who_sees(groups: &[Group], tab: &Tab) -> String {
    let name = |id: i64| {
        groups
            .iter()
            .find(|g| g.id == id)
            .map_or_else(|| id.to_string(), |g| g.name.clone())
    };
    if tab.group_id_max == 0 {
        format!("{} and above", name(tab.group_id))
    } else {
        format!("{} to {}", name(tab.group_id), name(tab.group_id_max))
    }
}

/// `GET /tabs`.
pub async fn tabs_page(State(core): State<Arc<Core>>, Page(me): AdminPage) -> Response {
    let (tabs, groups) = match tokio::try_join!(core.store.list_tabs(), core.store.list_groups()) {
        Ok(all) => all,
        Err(e) => return failed(e),
    };
    let groups = tab_groups(&groups);
    let default_min = groups.iter().find(|g| g.is_default).map_or(4, |g| g.id);
    let tabs = tabs
        .into_iter()
        .map(|t| TabRow {
            min: group_options(&groups, t.group_id),
            max: group_options(&groups, t.group_id_max),
            who: who_sees(&groups, &t),
            tab: t,
        })
        .collect();
    page(
        StatusCode::OK,
        TabsPage {
            nav: Nav::new(&me, "tabs"),
            tabs,
            new_min: group_options(&groups, default_min),
            new_max: group_options(&groups, 0),
        },
    )
}
