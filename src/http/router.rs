//! Route table. The proxy-auth routes (and /metrics) carry no middleware at all; pages and the API get
//! security headers and a body limit.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, map_response_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, patch, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use super::api::{account, admin, groups, oidc, plex, plex_admin, settings, sso, tabs, two_factor};
use super::error::ApiError;
use super::proxy_auth::proxy_auth;
use super::views;
use crate::core::Core;

/// Largest request body accepted anywhere (JSON and forms are small).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the whole router.
pub fn router(core: Arc<Core>) -> Router {
    let proxy = Router::new()
        .route("/api/v2/auth", any(proxy_auth))
        .route("/api/v2/auth/", any(proxy_auth))
        .route("/api/v2/auth/{*rest}", any(proxy_auth))
        .route("/api/v2/organizr-auth", any(proxy_auth))
        .route("/api/v2/organizr-auth/", any(proxy_auth))
        .route("/api/v2/organizr-auth/{*rest}", any(proxy_auth))
        .route("/api", any(proxy_auth))
        .route("/api/", any(proxy_auth))
        // No layers either: refused, it answers exactly like an address Usher does not have.
        .route("/metrics", any(super::metrics::metrics));

    // The OpenID Connect endpoints apps call server to server (or from a browser app, as a
    // public client): not cross-site protected (clients authenticate themselves), never cached.
    let oidc_api = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(super::oidc::discovery),
        )
        .route("/oidc/jwks", get(super::oidc::jwks))
        .route("/oidc/token", post(super::oidc::token))
        .route(
            "/oidc/userinfo",
            get(super::oidc::userinfo).post(super::oidc::userinfo),
        )
        .route("/oidc/revoke", post(super::oidc::revoke))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));

    let api = Router::new()
        .route("/api/v2/login", post(account::login))
        .route("/api/v2/logout", post(account::logout).get(account::logout))
        .route("/api/v2/me", get(account::me))
        .route(
            "/api/v2/me/sessions",
            delete(account::revoke_my_other_sessions),
        )
        .route("/api/v2/me/password", post(account::change_my_password))
        .route(
            "/api/v2/me/two-factor",
            post(two_factor::begin).delete(two_factor::disable),
        )
        .route("/api/v2/me/two-factor/confirm", post(two_factor::confirm))
        .route("/api/v2/users/{id}/two-factor", delete(two_factor::reset))
        .route(
            "/api/v2/me/sessions/{id}",
            delete(account::revoke_my_session),
        )
        .route(
            "/api/v2/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/api/v2/users/{id}",
            get(admin::get_user)
                .patch(admin::edit_user)
                .delete(admin::delete_user),
        )
        .route("/api/v2/users/{id}/lock", post(admin::lock_user))
        .route("/api/v2/users/{id}/unlock", post(admin::unlock_user))
        .route(
            "/api/v2/users/{id}/sessions",
            get(admin::user_sessions).delete(admin::revoke_user_sessions),
        )
        .route(
            "/api/v2/groups",
            get(admin::list_groups).post(groups::create_group),
        )
        .route(
            "/api/v2/groups/{id}",
            patch(groups::edit_group).delete(groups::delete_group),
        )
        .route("/api/v2/tabs", get(tabs::list_tabs).post(tabs::create_tab))
        .route("/api/v2/tabs/mine", get(tabs::my_tabs))
        .route("/api/v2/tabs/order", post(tabs::order_tabs))
        .route(
            "/api/v2/tabs/{id}",
            patch(tabs::edit_tab).delete(tabs::delete_tab),
        )
        .route("/api/v2/sessions", get(admin::list_sessions))
        .route("/api/v2/sessions/{id}", delete(admin::revoke_session))
        .route("/api/v2/audit", get(admin::audit))
        .route(
            "/api/v2/settings",
            get(settings::get_settings).patch(settings::patch_settings),
        )
        .route("/api/v2/plex/pin", post(plex::start_pin))
        .route("/api/v2/plex/pin/{id}", get(plex::poll_pin))
        .route("/api/v2/plex/admin/pin", post(plex_admin::start_owner_pin))
        .route(
            "/api/v2/plex/admin/pin/{id}",
            get(plex_admin::poll_owner_pin),
        )
        .route("/api/v2/plex/servers", get(plex_admin::list_servers))
        .route("/api/v2/plex/validate", get(plex_admin::validate))
        .route(
            "/api/v2/oidc/clients",
            get(oidc::list_clients).post(oidc::create_client),
        )
        .route(
            "/api/v2/oidc/clients/{id}",
            get(oidc::get_client)
                .patch(oidc::edit_client)
                .delete(oidc::delete_client),
        )
        .route("/api/v2/oidc/clients/{id}/secret", post(oidc::new_secret))
        .route("/api/v2/sso/launch", get(sso::launch))
        .route("/api/v2/sso/refresh", post(sso::refresh))
        .route("/api/v2/sso/debug", get(sso::debug))
        .route("/api/v2/sso/test/{app}", post(sso::test))
        .route("/healthz", get(account::healthz))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    let pages = Router::new()
        .route("/", get(views::index))
        .route("/login", get(views::login_page).post(views::login_submit))
        .route("/logout", post(views::logout_submit))
        .route("/setup", get(views::setup_page).post(views::setup_submit))
        .route("/plex/start", get(views::plex::start))
        .route("/plex/return", get(views::plex::finish))
        .route("/settings", get(views::settings::settings_root))
        .route(
            "/settings/{group}/{name}",
            get(views::settings::settings_page),
        )
        .route("/users", get(views::admin::users_page))
        .route("/groups", get(views::admin::groups_page))
        .route("/tabs", get(views::admin::tabs_page))
        .route("/audit", get(views::audit::audit_page))
        .route("/account", get(views::account::account_page))
        .route("/debug", get(views::account::debug_page))
        .route("/assets/usher.css", get(views::stylesheet))
        .route("/assets/app.js", get(views::app_script))
        .route("/assets/plex-login.js", get(views::plex_login_script))
        .route("/assets/sso.js", get(views::sso::script))
        .route("/sso/handoff", get(views::sso::handoff))
        .route("/oidc/authorize", get(super::oidc::authorize))
        .route("/oidc/logout", get(super::oidc::logout))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(views::CSP_BASE),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        ));

    let hardened = api
        .merge(pages)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(core.clone(), super::csrf::protect))
        .layer(map_response_with_state(
            core.clone(),
            super::error::log_storage_trouble,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));

    proxy
        .merge(oidc_api)
        .merge(hardened)
        .fallback(fallback)
        .with_state(core)
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed here",
    )
    .into_response()
}

static AUTH_DASH: &str = "/api/v2/auth-";

/// Organizr's `/api/v2/auth-{group}` form cannot be a route pattern, so it lands here.
async fn fallback(
    state: State<Arc<Core>>,
    peer: ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let path = req.uri().path();
    if path.starts_with(AUTH_DASH) {
        return proxy_auth(state, peer, req).await;
    }
    if path.starts_with("/api/") || path == "/healthz" {
        return ApiError::not_found().into_response();
    }
    page_not_found()
}

/// The answer for an address Usher does not serve (outside the API).
pub(super) fn page_not_found() -> Response {
    let mut r = (StatusCode::NOT_FOUND, "Not found").into_response();
    r.headers_mut().insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    r
}
