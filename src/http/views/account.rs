//! The person's own pages from the account menu: profile with sessions, and the debug area.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::layout::{format_time, Nav, Page, PersonPage};
use super::{message, page};
use crate::core::Core;

/// A session as the page lists it.
pub struct SessionRow {
    pub id: i64,
    pub device: String,
    pub ip: String,
    pub created: String,
    pub last_seen: String,
    pub method: String,
    pub current: bool,
}

/// A short device name from a user agent ("Chrome on Android"), or the start of it.
pub fn device_of(agent: Option<&str>) -> String {
    let Some(a) = agent.filter(|a| !a.is_empty()) else {
        return "Unknown device".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| a.contains(needle))
    .map(|(_, name)| *name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| a.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_string(),
        (None, Some(o)) => o.to_string(),
        (None, None) => a.chars().take(40).collect(),
    }
}

/// Rows for a list of sessions; `current` marks the viewer's own.
pub fn session_rows(sessions: Vec<crate::store::SessionInfo>, current: i64) -> Vec<SessionRow> {
    sessions
        .into_iter()
        .map(|s| SessionRow {
            id: s.id,
            device: device_of(s.user_agent.as_deref()),
            ip: s.ip.unwrap_or_default(),
            created: format_time(s.created_at),
            last_seen: format_time(s.last_seen_at),
            method: match s.method.as_str() {
                "local" => "Usher password".to_string(),
                "setup" => "first-run setup".to_string(),
                "plex_password" => "Plex password".to_string(),
                "plex_oauth" => "Sign in with Plex".to_string(),
                other => other.to_string(),
            },
            current: s.id == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    email: String,
    group_id: i64,
    /// A local password is set (Plex-only accounts have none to change).
    has_password: bool,
    /// Two-factor sign-in is on.
    two_factor: bool,
    /// The person's group must use two-factor sign-in and it is off.
    required: bool,
    sessions: Vec<SessionRow>,
}

/// `GET /account`: who I am and where I am signed in.
pub async fn account_page(State(core): State<Arc<Core>>, Page(me): PersonPage) -> Response {
    let sessions = match core.sessions_of(Some(me.view.user_id)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "sessions could not be listed");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sessions unavailable",
                "Your sessions could not be read; see Usher's log.",
                Some("/"),
            );
        }
    };
    page(
        StatusCode::OK,
        AccountPage {
            nav: Nav::new(&me, "account"),
            email: me.view.email.clone().unwrap_or_default(),
            group_id: me.view.group_id,
            has_password: matches!(core.store.get_user(me.view.user_id).await, Ok(Some(u)) if u.has_password),
            two_factor: me.view.two_factor,
            required: super::layout::must_enrol(&me.view, &core.settings()),
            sessions: session_rows(sessions, me.view.session_id),
        },
    )
}

/// One app's row in the debug area, in words.
struct DebugRow {
    name: String,
    enabled: bool,
    checks: Vec<(String, Option<bool>)>,
    last: Vec<String>,
    details: Vec<String>,
    hint: Option<String>,
}

#[derive(Template)]
#[template(path = "debug.html")]
struct DebugPage {
    nav: Nav,
    rows: Vec<DebugRow>,
}

/// `GET /debug`: the seed's SSO checks for the viewer's own session, green or red, with the fix.
pub async fn debug_page(
    State(core): State<Arc<Core>>,
    Page(me): PersonPage,
    headers: axum::http::HeaderMap,
) -> Response {
    let user = match core.store.get_user(me.view.user_id).await {
        Ok(Some(u)) => u,
        _ => {
            return message(
                StatusCode::NOT_FOUND,
                "No such account",
                "Your account is gone.",
                Some("/login"),
            )
        }
    };
    let rows = match core.sso_debug(&user, Some((&me.hash, &headers))).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "debug area failed");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Debug area unavailable",
                "The checks could not run; see Usher's log.",
                Some("/"),
            );
        }
    };
    let rows = rows
        .into_iter()
        .map(|r| DebugRow {
            name: r.name.to_string(),
            enabled: r.enabled,
            checks: vec![
                ("Turned on".to_string(), Some(r.enabled)),
                ("Your group may use it".to_string(), Some(r.group_allowed)),
                ("App answers at its URL".to_string(), r.url),
                ("API key accepted".to_string(), r.api),
                ("Plex backend in use".to_string(), r.backend),
                ("This browser has its sign-in".to_string(), r.cookie),
            ],
            last: r
                .last
                .iter()
                .map(|rec| {
                    let what = if rec.ok {
                        "signed in".to_string()
                    } else {
                        format!("failed: {}", rec.error.clone().unwrap_or_default())
                    };
                    format!("{} — {what}", rec.instance)
                })
                .collect(),
            details: r.details,
            hint: r.hint,
        })
        .collect();
    page(
        StatusCode::OK,
        DebugPage {
            nav: Nav::new(&me, "debug"),
            rows,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::device_of;

    #[test]
    fn devices_get_short_names() {
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36";
        assert_eq!(device_of(Some(android)), "Chrome on Android");
        assert_eq!(device_of(Some("curl/8.5.0")), "curl");
        assert_eq!(device_of(None), "Unknown device");
    }
}
