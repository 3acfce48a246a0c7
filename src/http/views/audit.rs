//! The Audit page (administrators): the audit log as a table with filters and paging, rendered
//! here from the same query `GET /api/v2/audit` runs. A plain GET form filters; links page.
//!
//! Must never: show a Co-Admin entries by or about the Admin (the query decides), or run script.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::admin::failed;
use super::layout::{format_time, AdminPage, Nav, Page};
use super::page;
use crate::audit::AuditFilter;
use crate::auth::AuthError;
use crate::core::Core;
use crate::store::AuditEntry;

/// One row of the table.
struct Row {
    when: String,
    who: String,
    action: String,
    about: String,
    ip: String,
    detail: String,
}

/// The filters as typed, for the form.
#[derive(Default)]
struct Typed {
    person: String,
    action: String,
    since: String,
    until: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    filter: Typed,
    actions: &'static [&'static str],
    errors: Vec<(String, String)>,
    summary: String,
    entries: Vec<Row>,
    newer: Option<String>,
    older: Option<String>,
    retention_days: i64,
    hides_admin: bool,
}

/// Suggestions for the action filter (families and the common actions).
const ACTIONS: &[&str] = &[
    "login",
    "login.success",
    "login.failure",
    "login.failure_suppressed",
    "session",
    "session.logout",
    "session.revoke",
    "two_factor",
    "user",
    "user.update",
    "group",
    "tab",
    "settings.update",
    "oidc_client",
    "oidc.key_rotate",
];

fn person(id: Option<i64>, name: &Option<String>) -> Option<String> {
    match (id, name) {
        (_, Some(n)) => Some(n.clone()),
        (Some(id), None) => Some(format!("#{id} (deleted)")),
        _ => None,
    }
}

fn row(e: AuditEntry) -> Row {
    let who = person(e.actor_id, &e.actor).unwrap_or_else(|| match e.action.as_str() {
        a if a.starts_with("login.") => "(not signed in)".into(),
        _ => "(Usher or the command line)".into(),
    });
    let about = person(e.subject_id, &e.subject)
        .or(e.target)
        .unwrap_or_default();
    Row {
        when: format_time(e.at),
        who,
        action: e.action,
        about,
        ip: e.ip.unwrap_or_default(),
        detail: e.detail.map(|d| d.to_string()).unwrap_or_default(),
    }
}

/// This page's address with the same filters at another offset.
fn at_offset(f: &AuditFilter, offset: i64, limit: i64) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("person", &f.person),
        ("action", &f.action),
        ("since", &f.since),
        ("until", &f.until),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            q.append_pair(k, v);
        }
    }
    q.append_pair("offset", &offset.to_string());
    q.append_pair("limit", &limit.to_string());
    format!("/audit?{}", q.finish())
}

/// `GET /audit`.
pub async fn audit_page(
    State(core): State<Arc<Core>>,
    Page(me): AdminPage,
    filter: Result<Query<AuditFilter>, QueryRejection>,
) -> Response {
    let filter = filter.map(|Query(f)| f).unwrap_or_default();
    let typed = Typed {
        person: filter.person.clone().unwrap_or_default(),
        action: filter.action.clone().unwrap_or_default(),
        since: filter.since.clone().unwrap_or_default(),
        until: filter.until.clone().unwrap_or_default(),
    };
    let mut view = AuditPage {
        nav: Nav::new(&me, "audit"),
        filter: typed,
        actions: ACTIONS,
        errors: Vec::new(),
        summary: String::new(),
        entries: Vec::new(),
        newer: None,
        older: None,
        retention_days: core.settings().audit_retention_days,
        hides_admin: me.view.group_id != crate::domain::group::ADMIN,
    };
    let query = match core.audit_query(&filter, me.view.group_id).await {
        Ok(q) => q,
        Err(AuthError::InvalidField(f)) => {
            view.errors.push((f.field.to_string(), f.reason));
            return page(StatusCode::BAD_REQUEST, view);
        }
        Err(e) => return failed(e),
    };
    let found = match core.store.query_audit(&query).await {
        Ok(found) => found,
        Err(e) => return failed(e),
    };
    let (offset, limit) = (query.offset, query.limit);
    let shown = found.entries.len() as i64;
    view.summary = match shown {
        0 => "No entries match.".into(),
        n => format!("Entries {}–{} of {}.", offset + 1, offset + n, found.total),
    };
    view.newer = (offset > 0).then(|| at_offset(&filter, (offset - limit).max(0), limit));
    view.older = (offset + shown < found.total).then(|| at_offset(&filter, offset + shown, limit));
    view.entries = found.entries.into_iter().map(row).collect();
    page(StatusCode::OK, view)
}
