//! The hand-over page between sign-in and the place people were going: it writes the
//! localStorage items of apps served under Usher's own origin (assets/sso.js), then continues.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{page, ReturnTo};
use crate::auth::SignedIn;
use crate::core::Core;
use crate::http::api::request_host;
use crate::http::extract::session_of;
use crate::http::redirect::safe_redirect;

#[derive(Template)]
#[template(path = "handoff.html")]
struct HandoffPage {
    next: String,
}

/// `GET /sso/handoff?rd=…`: writes the apps' browser items, then goes on to `rd` (checked again).
pub async fn handoff(
    State(core): State<Arc<Core>>,
    Query(q): Query<ReturnTo>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    if session_of(&parts, &core).await.is_none() {
        return Redirect::to("/login").into_response();
    }
    let settings = core.settings();
    let rd = q.rd.or(q.ret);
    let next = safe_redirect(rd.as_deref(), &settings, request_host(&parts.headers));
    page(StatusCode::OK, HandoffPage { next })
}

/// Where a sign-in should send the browser: through the hand-over page when SSO left items for
/// this origin's localStorage, or when the target is an OpenID Connect authorization request
/// (it ends at an app's redirect URI, and the sign-in form's redirects may not leave Usher's
/// origin: CSP `form-action 'self'`; the hand-over page continues by script instead), else
/// straight to `target`.
pub async fn after_sign_in(core: &Core, signed_in: &SignedIn, target: String) -> String {
    let oidc = target.starts_with("/oidc/authorize?");
    if !oidc && core.sso_storage(&signed_in.token.hash()).await.is_empty() {
        return target;
    }
    handoff_path(&target)
}

/// [`after_sign_in`] for the answer to the sign-in form's POST: a target given as a full URL
/// (an app on another host, in subdomain mode) goes through the hand-over page too. Browsers
/// apply CSP `form-action 'self'` to the redirect that follows a form POST, and Chromium does
/// not follow one that leaves Usher's origin; a page of Usher's own may go anywhere.
pub async fn after_form_sign_in(core: &Core, signed_in: &SignedIn, target: String) -> String {
    if target.starts_with('/') {
        after_sign_in(core, signed_in, target).await
    } else {
        handoff_path(&target)
    }
}

/// `/sso/handoff?rd=TARGET`.
fn handoff_path(target: &str) -> String {
    let mut url = url::Url::parse("http://usher.invalid/sso/handoff").expect("static URL");
    url.query_pairs_mut().append_pair("rd", target);
    format!("/sso/handoff?{}", url.query().unwrap_or_default())
}

/// `GET /assets/sso.js`.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../assets/sso.js"),
    )
        .into_response()
}
