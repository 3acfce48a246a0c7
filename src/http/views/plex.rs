//! The full-page Plex sign-in, for browsers that block popups (phones) and pages without
//! JavaScript: `/plex/start` creates the PIN and sends the browser to plex.tv with a `forwardUrl`
//! back to `/plex/return`, which finishes the sign-in and redirects to the allowed `rd`.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::message;
use crate::auth::plex::pin::{PendingPin, PinPurpose};
use crate::auth::AuthError;
use crate::core::Core;
use crate::http::api::plex::{
    begin, clear_pending, finish_login, is_final, own_base, require_oauth, LoginPinOutcome,
};
use crate::http::api::{request_host, with_cookies};
use crate::http::error::ApiError;
use crate::http::extract::{client_of, peer_of};
use crate::http::redirect::safe_redirect;

/// `?rd=&remember=` of `/plex/start`.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    rd: Option<String>,
    #[serde(default)]
    remember: Option<String>,
}

/// `GET /plex/start`: a PIN for this browser, then off to plex.tv's sign-in page.
pub async fn start(
    State(core): State<Arc<Core>>,
    Query(q): Query<StartQuery>,
    req: Request,
) -> Response {
    if let Err(e) = require_oauth(&core) {
        return failure_page(e);
    }
    let pending = PendingPin {
        pin_id: 0,
        purpose: PinPurpose::Login,
        expires_at: 0,
        rd: q.rd.filter(|r| !r.is_empty()),
        remember: q.remember.is_some_and(|v| !v.is_empty() && v != "0"),
        started_by: None,
    };
    let (parts, _) = req.into_parts();
    let base = own_base(&core, peer_of(&parts), &parts.headers);
    let client = client_of(&parts, &core);
    match begin(&core, &client, pending, Some(base)).await {
        Ok((started, cookie)) => with_cookies(
            Redirect::to(&started.auth_url).into_response(),
            vec![cookie],
        ),
        Err(e) => failure_page(e),
    }
}

/// `?pin=` of `/plex/return`.
#[derive(Debug, Deserialize)]
pub struct ReturnQuery {
    #[serde(default)]
    pin: Option<i64>,
}

/// `GET /plex/return`: plex.tv's page sends the browser here after approval.
pub async fn finish(
    State(core): State<Arc<Core>>,
    Query(q): Query<ReturnQuery>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let client = client_of(&parts, &core);
    let Some(id) = q.pin else {
        return failure_page(AuthError::PinNotFound);
    };
    match finish_login(&core, &parts.headers, id, &client).await {
        Ok(LoginPinOutcome::SignedIn(signed_in, rd)) => {
            let settings = core.settings();
            let target = safe_redirect(rd.as_deref(), &settings, request_host(&parts.headers));
            let mut set = crate::http::signin::sign_in_cookies(&core, &signed_in, None).await;
            set.push(clear_pending(&core));
            let target = super::sso::after_sign_in(&core, &signed_in, target).await;
            with_cookies(Redirect::to(&target).into_response(), set)
        }
        Ok(LoginPinOutcome::Pending) => message(
            StatusCode::ACCEPTED,
            "Waiting for Plex",
            "Plex has not confirmed the sign-in yet. If you approved it, continue in a moment; otherwise start again from the sign-in page.",
            Some(&format!("/plex/return?pin={id}")),
        ),
        Err(e) if is_final(&e) => {
            with_cookies(failure_page(e), vec![clear_pending(&core)])
        }
        Err(e) => failure_page(e),
    }
}

fn failure_page(e: AuthError) -> Response {
    let text = e.to_string();
    let status = ApiError::from(e).status;
    let status = if status == StatusCode::UNAUTHORIZED {
        StatusCode::FORBIDDEN
    } else {
        status
    };
    message(status, "Sign in with Plex failed", &text, Some("/login"))
}
