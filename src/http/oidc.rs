//! The OpenID Connect provider's endpoints (docs/oidc.md): discovery, authorization, token,
//! userinfo, JWKS, revocation, end session. The logic is in src/oidc/; this file turns requests
//! into calls and errors into RFC 6749 answers: JSON on the token endpoint, a redirect with
//! `error` + `state` only to a registered redirect URI, Usher's own page otherwise.
//!
//! Must never: redirect before the client and its redirect URI are known to belong together,
//! answer while `public_url` is unset, or log a code, token or secret.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::extract::{client_of, session_of};
use super::oidc_client_auth::ClientRequest;
use super::views::{layout, message};
use crate::core::Core;
use crate::domain::now;
use crate::domain::session::hash_hex;
use crate::oidc::authorize::{self, AuthorizeParams};
use crate::oidc::tokens::{CodeRequest, Provider};
use crate::oidc::OidcError;
use crate::settings::Settings;
use crate::store::Grant;

/// The issuer: `public_url` exactly as stored; `None` while it is unset (the provider is off).
pub fn issuer(settings: &Settings) -> Option<String> {
    settings
        .get("public_url")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn provider<'a>(core: &'a Core, settings: &Settings, issuer: &'a str) -> Provider<'a> {
    Provider {
        store: &core.store,
        keys: &core.oidc_keys,
        secret_key: &core.secret_key,
        issuer,
        lifetimes: settings.oidc,
    }
}

pub(super) fn not_configured() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "not_configured",
        "Usher's OpenID Connect provider answers only when public_url is set (usher settings set public_url '\"https://usher.example.com\"')",
    )
}

fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({ "error": code, "error_description": description })),
    )
        .into_response();
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

pub(super) fn oauth_error(e: &OidcError) -> Response {
    let status = match e {
        OidcError::InvalidClient | OidcError::InvalidToken => StatusCode::UNAUTHORIZED,
        OidcError::Store(s) if s.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
        OidcError::Store(_) | OidcError::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    if status.is_server_error() {
        tracing::error!(error = %e, "OpenID Connect request failed");
    }
    json_error(status, e.code(), &e.description())
}

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(State(core): State<Arc<Core>>) -> Response {
    let Some(iss) = issuer(&core.settings()) else {
        return not_configured();
    };
    let doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oidc/authorize"),
        "token_endpoint": format!("{iss}/oidc/token"),
        "userinfo_endpoint": format!("{iss}/oidc/userinfo"),
        "jwks_uri": format!("{iss}/oidc/jwks"),
        "end_session_endpoint": format!("{iss}/oidc/logout"),
        "revocation_endpoint": format!("{iss}/oidc/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": crate::oidc::SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "azp",
            "preferred_username", "name", "picture", "email", "email_verified", "groups", crate::oidc::GROUP_CLAIM],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    });
    let mut r = axum::Json(doc).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    r
}

/// `GET /oidc/jwks`: the published keys, from memory.
pub async fn jwks(State(core): State<Arc<Core>>) -> Response {
    if issuer(&core.settings()).is_none() {
        return not_configured();
    }
    match core.oidc_keys.ring(&core.store, &core.secret_key).await {
        Ok(ring) => {
            let mut r = ring.jwks.clone().into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=60"),
            );
            r
        }
        Err(e) => oauth_error(&e),
    }
}

/// A page of Usher's own for a request that may not be redirected anywhere.
fn refusal_page(status: StatusCode, text: &str) -> Response {
    message(status, "Sign-in request refused", text, Some("/"))
}

/// `302` to a registered redirect URI with the given parameters added to its query.
fn back_to(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return refusal_page(StatusCode::BAD_REQUEST, "The redirect URI is not a URL.");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error_back(redirect_uri: &str, e: &OidcError, state: Option<&str>, iss: &str) -> Response {
    if matches!(e, OidcError::Store(_) | OidcError::Server(_)) {
        tracing::error!(error = %e, "authorization request failed");
    }
    let description = e.description();
    let mut pairs = vec![
        ("error", e.code()),
        ("error_description", description.as_str()),
    ];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", iss));
    back_to(redirect_uri, &pairs)
}

/// `GET /oidc/authorize`.
pub async fn authorize(State(core): State<Arc<Core>>, req: Request) -> Response {
    let settings = core.settings().clone();
    let Some(iss) = issuer(&settings) else {
        return refusal_page(
            StatusCode::NOT_FOUND,
            "Usher's OpenID Connect provider is off: an administrator must set public_url first.",
        );
    };
    let Ok(Query(params)) = Query::<AuthorizeParams>::try_from_uri(req.uri()) else {
        return refusal_page(
            StatusCode::BAD_REQUEST,
            "The sign-in request could not be read.",
        );
    };
    let client = match params.client_id.as_deref() {
        Some(id) => match core.store.oidc_client(id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "client lookup failed");
                return refusal_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Usher cannot answer right now; try again shortly.",
                );
            }
        },
        None => None,
    };
    let Some(client) = client else {
        return refusal_page(
            StatusCode::BAD_REQUEST,
            "The app that sent you here is not registered with Usher (unknown client_id).",
        );
    };
    let Some(redirect_uri) = authorize::redirect_target(&client, &params).map(str::to_string)
    else {
        tracing::info!(client = %client.id, "authorization request with an unregistered redirect URI");
        return refusal_page(StatusCode::BAD_REQUEST, "The app asked to be answered at an address that is not registered for it (redirect_uri). Nothing was sent.");
    };
    let state = params.state.as_deref();
    let checked = match authorize::check(&client, &params) {
        Ok(c) => c,
        Err(e) => return error_back(&redirect_uri, &e, state, &iss),
    };
    let (parts, _) = req.into_parts();
    let session = session_of(&parts, &core)
        .await
        .filter(|s| !s.view.locked && !layout::must_enrol(&s.view, &settings));
    let at = now();
    let auth_time = match &session {
        Some(s) => match core.store.session_started(&hash_hex(&s.hash), at).await {
            Ok(t) => t,
            Err(e) => return error_back(&redirect_uri, &e.into(), state, &iss),
        },
        None => None,
    };
    let (Some(session), Some(auth_time), None) = (
        &session,
        auth_time,
        authorize::sign_in_needed(&checked, &params, auth_time, at),
    ) else {
        if checked.prompt_none {
            return error_back(&redirect_uri, &OidcError::LoginRequired, state, &iss);
        }
        let again = session.is_some();
        let back = authorize::return_path(&params, again.then_some(at));
        let rd: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        let login = format!("/login?rd={rd}{}", if again { "&fresh=1" } else { "" });
        let mut r = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(&login) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    };
    if session.view.group_id > client.max_group {
        tracing::info!(client = %client.id, user = %session.view.username, "OpenID Connect sign-in refused: group too low");
        let e = OidcError::AccessDenied("this account's group may not use this app");
        return error_back(&redirect_uri, &e, state, &iss);
    }
    let grant = Grant {
        client_id: client.id.clone(),
        user_id: session.view.user_id,
        session_hash: hash_hex(&session.hash),
        group_id: session.view.group_id,
        scope: checked.scope.clone(),
        auth_time,
    };
    let request = CodeRequest {
        redirect_uri: redirect_uri.clone(),
        nonce: checked.nonce.clone(),
        code_challenge: checked.code_challenge.clone(),
    };
    match provider(&core, &settings, &iss)
        .issue_code(grant, request)
        .await
    {
        Ok(code) => {
            let mut pairs = vec![("code", code.as_str())];
            if let Some(s) = state {
                pairs.push(("state", s));
            }
            pairs.push(("iss", &iss));
            back_to(&redirect_uri, &pairs)
        }
        Err(e) => error_back(&redirect_uri, &e, state, &iss),
    }
}

/// `POST /oidc/token`.
pub async fn token(ClientRequest { core, client, form }: ClientRequest) -> Response {
    let settings = core.settings().clone();
    let Some(iss) = issuer(&settings) else {
        return not_configured();
    };
    let p = provider(&core, &settings, &iss);
    let get = |k: &str| form.get(k).map(String::as_str);
    let answer = match get("grant_type") {
        Some("authorization_code") => match get("code") {
            Some(code) => {
                p.exchange_code(&client, code, get("redirect_uri"), get("code_verifier"))
                    .await
            }
            None => Err(OidcError::InvalidRequest("code is missing".into())),
        },
        Some("refresh_token") => match get("refresh_token") {
            Some(t) => p.refresh(&client, t).await,
            None => Err(OidcError::InvalidRequest("refresh_token is missing".into())),
        },
        Some(_) => Err(OidcError::UnsupportedGrantType),
        None => Err(OidcError::InvalidRequest("grant_type is missing".into())),
    };
    match answer {
        Ok(t) => {
            let mut r = axum::Json(t).into_response();
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => oauth_error(&e),
    }
}

/// `GET`/`POST /oidc/userinfo` with `Authorization: Bearer`.
pub async fn userinfo(State(core): State<Arc<Core>>, headers: HeaderMap) -> Response {
    let settings = core.settings().clone();
    let Some(iss) = issuer(&settings) else {
        return not_configured();
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let challenge = |value: &'static str| {
        let mut r = json_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "a valid access token is required",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        r
    };
    let Some(token) = bearer else {
        return challenge("Bearer realm=\"usher\"");
    };
    match provider(&core, &settings, &iss).userinfo(token).await {
        Ok(claims) => axum::Json(claims).into_response(),
        Err(OidcError::InvalidToken) => {
            challenge("Bearer realm=\"usher\", error=\"invalid_token\"")
        }
        Err(e) => oauth_error(&e),
    }
}

/// `POST /oidc/revoke` (RFC 7009): 200 whether or not the token was known.
pub async fn revoke(ClientRequest { core, client, form }: ClientRequest) -> Response {
    let settings = core.settings().clone();
    let Some(iss) = issuer(&settings) else {
        return not_configured();
    };
    let Some(token) = form.get("token") else {
        return oauth_error(&OidcError::InvalidRequest("token is missing".into()));
    };
    match provider(&core, &settings, &iss)
        .revoke(&client, token)
        .await
    {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(&e),
    }
}

/// The query of `/oidc/logout` (RP-Initiated Logout 1.0).
#[derive(Debug, serde::Deserialize)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// `GET /oidc/logout`: ends the Usher session when the request carries an id_token Usher signed
/// for the person signed in here (a bare link cannot sign anybody out), then goes back to the
/// app when its address is on the origin of one of the client's redirect URIs.
pub async fn logout(
    State(core): State<Arc<Core>>,
    Query(params): Query<LogoutParams>,
    req: Request,
) -> Response {
    let settings = core.settings().clone();
    let Some(iss) = issuer(&settings) else {
        return refusal_page(
            StatusCode::NOT_FOUND,
            "Usher's OpenID Connect provider is off.",
        );
    };
    let (parts, _) = req.into_parts();
    let hint = match params.id_token_hint.as_deref() {
        Some(t) => super::oidc_logout::verify_hint(&core, &iss, t).await,
        None => None,
    };
    let client_id = params
        .client_id
        .clone()
        .or_else(|| hint.as_ref().map(|h| h.client_id.clone()));
    let client = match client_id {
        Some(id) => core.store.oidc_client(&id).await.ok().flatten(),
        None => None,
    };
    let back = params.post_logout_redirect_uri.as_deref().filter(|u| {
        client
            .as_ref()
            .is_some_and(|c| super::oidc_logout::same_origin_as_registered(c, u))
    });
    let session = session_of(&parts, &core).await;
    let ends = match (&session, &hint) {
        (Some(s), Some(h)) => super::oidc_logout::hint_names(&core, h, s.view.user_id).await,
        _ => false,
    };
    if session.is_some() && !ends {
        return message(
            StatusCode::OK,
            "Sign out of Usher?",
            "An app asked Usher to sign you out. Use the Sign out button on your Usher page if you want to.",
            Some("/"),
        );
    }
    let mut cookies = Vec::new();
    if ends {
        let client_info = client_of(&parts, &core);
        match crate::http::signin::sign_out(&core, &parts, &client_info).await {
            Ok((set, _)) => cookies = set,
            Err(e) => tracing::error!(error = %e, "OpenID Connect logout failed"),
        }
    }
    let r = match back {
        Some(uri) => {
            let state: Vec<(&str, &str)> = params
                .state
                .as_deref()
                .map(|s| ("state", s))
                .into_iter()
                .collect();
            back_to(uri, &state)
        }
        None => message(
            StatusCode::OK,
            "Signed out",
            "You are signed out of Usher.",
            Some("/login"),
        ),
    };
    super::api::with_cookies(r, cookies)
}
