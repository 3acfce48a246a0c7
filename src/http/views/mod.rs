//! Server-rendered pages: sign-in (works without JavaScript), home, first-run setup.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::api::{request_host, with_cookies};
use super::cookies;
use super::extract::{client_of, session_of};
use super::redirect::safe_redirect;
use crate::auth::accounts::CreateUser;
use crate::auth::{AuthError, PasswordLogin};
use crate::core::Core;

pub mod account;
pub mod admin;
pub mod audit;
pub mod layout;
mod nginx_box;
pub mod plex;
pub mod settings;
pub mod sso;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    error: Option<String>,
    username: &'a str,
    rd: &'a str,
    remember: bool,
    remember_days: i64,
    /// Plex asked for a two-factor code: show its field.
    two_factor: bool,
    /// Show "Sign in with Plex".
    plex_oauth: bool,
    /// Where "Sign in with Plex" goes without JavaScript (the full-page redirect flow).
    plex_start: String,
}

impl<'a> LoginPage<'a> {
    fn new(settings: &crate::settings::Settings, username: &'a str, rd: &'a str) -> Self {
        LoginPage {
            error: None,
            username,
            rd,
            remember: false,
            remember_days: settings.remember_days,
            two_factor: false,
            plex_oauth: settings.plex_oauth_enabled(),
            plex_start: format!(
                "/plex/start?rd={}",
                url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
            ),
        }
    }
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    error: Option<String>,
    token: &'a str,
    username: &'a str,
    email: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    heading: &'a str,
    text: &'a str,
    link: Option<&'a str>,
}

/// A tile on the portal.
struct TabTile {
    id: i64,
    name: String,
    href: String,
    icon: Option<String>,
    initial: String,
    new_window: bool,
    /// Why Usher could not sign the person into this tab's app, in words.
    sso_failed: Option<String>,
}

/// Tiles under one category heading (empty name: no category).
struct Category {
    name: String,
    tabs: Vec<TabTile>,
}

/// The tab shown in the portal's frame.
struct Framed {
    id: i64,
    name: String,
    url: String,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    nav: layout::Nav,
    tabs: Vec<TabTile>,
    categories: Vec<Category>,
    framed: Option<Framed>,
    nginx_box: Option<nginx_box::NginxBox>,
}

fn page<T: Template>(status: StatusCode, t: T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response()
        }
    }
}

pub(crate) fn message(
    status: StatusCode,
    heading: &str,
    text: &str,
    link: Option<&str>,
) -> Response {
    page(
        status,
        MessagePage {
            heading,
            text,
            link,
        },
    )
}

/// A message as a sentence: capital first letter, full stop.
pub(crate) fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut s: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

/// `?rd=` (or Organizr's `?return=`).
#[derive(Debug, Deserialize, Default)]
pub struct ReturnTo {
    rd: Option<String>,
    #[serde(rename = "return")]
    ret: Option<String>,
    /// Show the form even to someone signed in: an app asked for a fresh sign-in
    /// (OpenID Connect `prompt=login` / `max_age`).
    fresh: Option<String>,
}

/// `GET /login`.
pub async fn login_page(
    State(core): State<Arc<Core>>,
    Query(q): Query<ReturnTo>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let rd = q.rd.or(q.ret).unwrap_or_default();
    let settings = core.settings();
    let signed_in = match q.fresh {
        Some(_) => None,
        None => session_of(&parts, &core).await.filter(|s| !s.view.locked),
    };
    if let Some(me) = signed_in {
        if layout::must_enrol(&me.view, &settings) {
            return Redirect::to(crate::auth::two_factor::ENROL_PAGE).into_response();
        }
        // A page with a link rather than a redirect: when the app's host does not get the
        // cookie (wrong cookie_domain), forward auth would send the browser straight back here
        // and a redirect would loop forever.
        let target = safe_redirect(Some(&rd), &settings, request_host(&parts.headers));
        let text = format!(
            "You are signed in as {} ({}).",
            me.view.username, me.view.group_name
        );
        return message(StatusCode::OK, "Already signed in", &text, Some(&target));
    }
    page(StatusCode::OK, LoginPage::new(&settings, "", &rd))
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    remember: Option<String>,
    #[serde(default)]
    rd: String,
    /// Plex two-factor code.
    code: Option<String>,
}

/// `POST /login`: signs in and redirects (303) to the checked return address.
pub async fn login_submit(State(core): State<Arc<Core>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let client = client_of(&parts, &core);
    let Ok(Form(form)) =
        Form::<LoginForm>::from_request(Request::from_parts(parts.clone(), body), &core).await
    else {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The form could not be read.",
            Some("/login"),
        );
    };
    let remember = form.remember.is_some();
    let password = secrecy::SecretString::from(form.password.clone());
    let attempt = PasswordLogin {
        login: form.username.clone(),
        password: form.password,
        remember,
        code: form.code.filter(|c| !c.trim().is_empty()),
    };
    let settings = core.settings();
    match core.login(attempt, &client).await {
        Ok(signed_in) => {
            let target = safe_redirect(Some(&form.rd), &settings, request_host(&parts.headers));
            let cookies = {
                use secrecy::ExposeSecret;
                crate::http::signin::sign_in_cookies(
                    &core,
                    &signed_in,
                    Some(password.expose_secret()),
                )
                .await
            };
            let target = sso::after_form_sign_in(&core, &signed_in, target).await;
            let target = match core.enrol_first(&signed_in).await {
                Ok(Some(enrol)) => enrol.to_string(),
                _ => target,
            };
            with_cookies(Redirect::to(&target).into_response(), cookies)
        }
        Err(e) => {
            let error = sentence(&e.to_string());
            let retry_after = match e {
                AuthError::Throttled(s) => Some(s),
                _ => None,
            };
            let two_factor =
                e.code() == "two_factor_required" || e.code() == "wrong_two_factor_code";
            let status = super::error::ApiError::from(e).status;
            let mut login_page = LoginPage::new(&settings, &form.username, &form.rd);
            login_page.error = Some(error);
            login_page.remember = remember;
            login_page.two_factor = two_factor;
            let mut resp = page(status, login_page);
            if let Some(s) = retry_after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            resp
        }
    }
}

use axum::extract::FromRequest;

/// `POST /logout` (the page's button): ends the session, back to the sign-in page.
pub async fn logout_submit(State(core): State<Arc<Core>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let client = client_of(&parts, &core);
    let set = match crate::http::signin::sign_out(&core, &parts, &client).await {
        Ok((set, _)) => set,
        Err(e) => {
            tracing::error!(error = %e, "logout failed");
            cookies::clear_session(&core.settings())
        }
    };
    with_cookies(Redirect::to("/login").into_response(), set)
}

/// `?tab=ID`: open a tab in the portal's frame.
#[derive(Debug, Deserialize)]
pub struct PortalQuery {
    tab: Option<String>,
}

/// `GET /`: the portal (the person's tabs); otherwise the sign-in page (or a first-run hint).
pub async fn index(
    State(core): State<Arc<Core>>,
    Query(q): Query<PortalQuery>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    if session_of(&parts, &core).await.is_none() && core.setup_required().await.unwrap_or(false) {
        return message(
            StatusCode::OK,
            "Usher needs its first administrator",
            "Open the one-time setup link printed in Usher's log (also in the file setup-token in the data directory), or run: usher user add NAME --email EMAIL --group 0. Coming from Organizr? Run usher import organizr --from ORGANIZR-DATA-DIR instead: everyone keeps their password, group and tabs.",
            None,
        );
    }
    let me = match layout::page_session(&parts, &core, layout::Need::SignedIn).await {
        Ok(me) => me,
        Err(resp) => return resp,
    };
    let nav = layout::Nav::new(&me, "portal");
    let tabs = core.tabs_for(me.view.group_id).await.unwrap_or_default();
    let sso_failed = core.sso_failures_by_tab(&me.hash, &tabs).await;
    let wanted: Option<i64> = q.tab.as_deref().and_then(|t| t.parse().ok());
    let framed = wanted
        .and_then(|id| tabs.iter().find(|t| t.id == id))
        .filter(|t| t.kind == crate::domain::TabKind::Iframe)
        .map(|t| Framed {
            id: t.id,
            name: t.name.clone(),
            url: t.url.clone(),
        });
    let nginx_box = if nav.is_admin && framed.is_none() {
        let settings = core.settings();
        let usher_host = settings.public_url.as_ref().and_then(|u| u.host_str());
        let usher = nginx_box::usher_address(core.config.listen);
        nginx_box::nginx_box(&tabs, &usher, usher_host)
    } else {
        None
    };
    let tile = |t: &crate::domain::Tab| {
        let new_window = t.kind == crate::domain::TabKind::NewWindow;
        TabTile {
            id: t.id,
            name: t.name.clone(),
            href: if new_window {
                t.url.clone()
            } else {
                format!("/?tab={}", t.id)
            },
            // Organizr's icon names (`fa fa-film`) are not images: those get the letter tile.
            icon: t
                .icon
                .clone()
                .filter(|i| i.contains('/') || i.contains(':')),
            initial: t
                .name
                .chars()
                .next()
                .unwrap_or('?')
                .to_uppercase()
                .collect(),
            new_window,
            sso_failed: sso_failed.get(&t.id).cloned(),
        }
    };
    let mut categories: Vec<Category> = Vec::new();
    for t in &tabs {
        let name = t.category.clone().unwrap_or_default();
        match categories.iter_mut().find(|c| c.name == name) {
            Some(c) => c.tabs.push(tile(t)),
            None => categories.push(Category {
                name,
                tabs: vec![tile(t)],
            }),
        }
    }
    let frame_src = framed.as_ref().map(|f| frame_source(&f.url));
    let mut resp = page(
        StatusCode::OK,
        IndexPage {
            nav,
            tabs: tabs.iter().map(tile).collect(),
            categories,
            framed,
            nginx_box,
        },
    );
    if let Some(src) = frame_src {
        // The portal may frame exactly the app it shows (and itself); nothing else.
        let csp = format!("{CSP_BASE}; frame-src 'self'{src}");
        if let Ok(v) = HeaderValue::from_str(&csp) {
            resp.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    resp
}

/// The pages' Content-Security-Policy: only Usher's own scripts and styles, no inline code,
/// images also from https (tab icons), frames only where a page says so, framed only by itself.
pub const CSP_BASE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; object-src 'none'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'";

/// ` https://app.example.com` for an absolute tab URL; nothing for a path on Usher's own host.
fn frame_source(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https") && crate::domain::tab::has_plain_host(&u) =>
        {
            format!(" {}", u.origin().ascii_serialization())
        }
        _ => String::new(),
    }
}

/// `?token=` of the setup link.
#[derive(Debug, Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

/// `GET /setup?token=…`.
pub async fn setup_page(State(core): State<Arc<Core>>, Query(q): Query<SetupQuery>) -> Response {
    if !core.setup_required().await.unwrap_or(false) {
        return message(
            StatusCode::NOT_FOUND,
            "Already set up",
            "Usher already has an administrator.",
            Some("/login"),
        );
    }
    let token = q.token.unwrap_or_default();
    if !core.setup_token_valid(&token).await {
        return message(
            StatusCode::FORBIDDEN,
            "Setup link required",
            "Open the one-time setup link printed in Usher's log (or in the file setup-token in the data directory).",
            None,
        );
    }
    page(
        StatusCode::OK,
        SetupPage {
            error: None,
            token: &token,
            username: "",
            email: "",
        },
    )
}

/// The setup form.
#[derive(Debug, Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `POST /setup`: creates the first admin and signs them in.
pub async fn setup_submit(State(core): State<Arc<Core>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let client = client_of(&parts, &core);
    let Ok(Form(form)) =
        Form::<SetupForm>::from_request(Request::from_parts(parts, body), &core).await
    else {
        return message(
            StatusCode::BAD_REQUEST,
            "Setup failed",
            "The form could not be read.",
            None,
        );
    };
    let req = CreateUser {
        username: form.username.trim().to_string(),
        email: Some(form.email.trim().to_string()).filter(|e| !e.is_empty()),
        password: Some(form.password),
        group_id: Some(0),
        reuse_retired_name: false,
    };
    match core.complete_setup(&form.token, req).await {
        Ok(user) => match core
            .start_session(user, crate::domain::SessionMethod::Setup, false, &client)
            .await
        {
            Ok(s) => {
                let settings = core.settings();
                with_cookies(
                    Redirect::to("/").into_response(),
                    cookies::set_session(&settings, s.token.expose(), s.max_age),
                )
            }
            Err(e) => message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Setup failed",
                &e.to_string(),
                None,
            ),
        },
        Err(AuthError::Forbidden(m)) => {
            message(StatusCode::FORBIDDEN, "Setup link required", &m, None)
        }
        Err(e) => {
            let error = match &e {
                AuthError::Conflict(_) => "That username or email is already taken.".to_string(),
                other => sentence(&other.to_string()),
            };
            let status = super::error::ApiError::from(e).status;
            page(
                status,
                SetupPage {
                    error: Some(error),
                    token: &form.token,
                    username: &form.username,
                    email: &form.email,
                },
            )
        }
    }
}

/// `GET /assets/plex-login.js`: the "Sign in with Plex" popup and polling.
pub async fn plex_login_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../assets/plex-login.js"),
    )
        .into_response()
}

/// `GET /assets/app.js`: the signed-in pages' forms and buttons.
pub async fn app_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../assets/app.js"),
    )
        .into_response()
}

/// `GET /assets/usher.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../assets/usher.css"),
    )
        .into_response()
}
