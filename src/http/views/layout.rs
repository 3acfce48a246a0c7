//! What every signed-in page shares: the top bar's data and the "who may see this page" check.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::message;
use crate::auth::accounts::can_administer;
use crate::core::Core;
use crate::http::extract::{session_of, SignedIn};

/// The top bar of a signed-in page.
pub struct Nav {
    pub username: String,
    pub group_name: String,
    pub is_admin: bool,
    /// Which menu entry is this page (`portal`, `settings`, `users`, `groups`, `tabs`, `audit`, `account`, `debug`).
    pub active: &'static str,
}

impl Nav {
    pub fn new(me: &SignedIn, active: &'static str) -> Nav {
        Nav {
            username: me.view.username.clone(),
            group_name: me.view.group_name.clone(),
            is_admin: can_administer(me.view.group_id),
            active,
        }
    }
}

/// Who may open a page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    SignedIn,
    Admin,
}

/// The signed-in person for a page; otherwise the answer to send instead: the sign-in page
/// (coming back here afterwards) or a 403 page for someone who is not an administrator.
pub async fn page_session(parts: &Parts, core: &Core, need: Need) -> Result<SignedIn, Response> {
    let Some(me) = session_of(parts, core).await.filter(|s| !s.view.locked) else {
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        if here == "/" {
            return Err(Redirect::to("/login").into_response());
        }
        let mut to = url::Url::parse("http://usher.invalid/login").expect("static URL");
        to.query_pairs_mut().append_pair("rd", here);
        return Err(
            Redirect::to(&format!("/login?{}", to.query().unwrap_or_default())).into_response(),
        );
    };
    // Someone who must turn two-factor on sees only their profile until they have.
    if must_enrol(&me.view, &core.settings()) && parts.uri.path() != "/account" {
        return Err(Redirect::to(crate::auth::two_factor::ENROL_PAGE).into_response());
    }
    if need == Need::Admin && !can_administer(me.view.group_id) {
        return Err(message(
            StatusCode::FORBIDDEN,
            "Administrators only",
            "This page is for Usher's administrators (group 0 or 1).",
            Some("/"),
        ));
    }
    Ok(me)
}

/// Whether the session's person must turn two-factor on before anything else.
pub fn must_enrol(view: &crate::domain::SessionView, settings: &crate::settings::Settings) -> bool {
    let rule = settings.two_factor;
    view.must_enrol(rule.required_up_to_group, rule.skip_for_plex)
}

/// The signed-in person of a page, as an extractor: `Page(me): AdminPage` in a handler's
/// arguments; anyone else gets [`page_session`]'s answer instead of the page.
pub struct Page<const ADMIN: bool>(pub SignedIn);

/// Any signed-in, unlocked person.
pub type PersonPage = Page<false>;
/// Administrators only (group 0 or 1).
pub type AdminPage = Page<true>;

impl<const ADMIN: bool> FromRequestParts<Arc<Core>> for Page<ADMIN> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, core: &Arc<Core>) -> Result<Self, Response> {
        let need = if ADMIN { Need::Admin } else { Need::SignedIn };
        page_session(parts, core, need).await.map(Page)
    }
}

/// A Unix time as `2026-11-29 19:53 UTC`.
pub fn format_time(epoch: i64) -> String {
    cookie::time::OffsetDateTime::from_unix_timestamp(epoch)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}
