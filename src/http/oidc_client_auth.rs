//! Who is calling the token and revocation endpoints: the form body (a parameter sent twice is
//! refused, RFC 6749 §3.2) and the client, authenticated by HTTP Basic (`client_secret_basic`)
//! or the body (`client_secret_post`), never both; a public client names itself and sends no
//! secret. A failure answers RFC 6749 §5.2's `invalid_client` (401, with a Basic challenge when
//! Basic was tried) before any grant is looked at.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Form;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::oidc::{not_configured, oauth_error};
use crate::core::Core;
use crate::oidc::clients::{self, Credentials};
use crate::oidc::OidcError;
use crate::store::OidcClient;

/// An authenticated client's request to the token or revocation endpoint.
pub struct ClientRequest {
    pub core: Arc<Core>,
    pub client: OidcClient,
    /// The form's parameters, each sent once.
    pub form: HashMap<String, String>,
}

impl FromRequest<Arc<Core>> for ClientRequest {
    type Rejection = Response;

    async fn from_request(req: Request, core: &Arc<Core>) -> Result<Self, Response> {
        if super::oidc::issuer(&core.settings()).is_none() {
            return Err(not_configured());
        }
        let headers = req.headers().clone();
        let Ok(Form(pairs)) = Form::<Vec<(String, String)>>::from_request(req, core).await else {
            return Err(oauth_error(&OidcError::InvalidRequest(
                "send the parameters as application/x-www-form-urlencoded".into(),
            )));
        };
        let form = form_map(pairs).map_err(|e| oauth_error(&e))?;
        let (creds, basic) = credentials(&headers, &form).map_err(|e| client_error(e, false))?;
        let client = clients::authenticate(&core.store, &creds)
            .await
            .map_err(|e| client_error(e, basic))?;
        Ok(ClientRequest {
            core: core.clone(),
            client,
            form,
        })
    }
}

fn form_map(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, OidcError> {
    let mut map = HashMap::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), v).is_some() {
            return Err(OidcError::InvalidRequest(format!(
                "{k} was sent more than once"
            )));
        }
    }
    Ok(map)
}

/// One form-encoded component of HTTP Basic client credentials (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The credentials from HTTP Basic or the body, and whether Basic was used.
fn credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(Credentials, bool), OidcError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let body_secret = form.get("client_secret").cloned();
    let body_id = form.get("client_id").cloned();
    let Some(basic) = basic else {
        let creds = Credentials {
            id: body_id,
            secret: body_secret,
        };
        return Ok((creds, false));
    };
    if body_secret.is_some() {
        return Err(OidcError::InvalidRequest(
            "use one client authentication method".into(),
        ));
    }
    let decoded = B64
        .decode(basic.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(OidcError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(OidcError::InvalidClient)?;
    let id = form_decode(id);
    if body_id.as_deref().is_some_and(|b| b != id) {
        return Err(OidcError::InvalidRequest(
            "client_id differs from the Basic credentials".into(),
        ));
    }
    let creds = Credentials {
        id: Some(id),
        secret: Some(form_decode(secret)),
    };
    Ok((creds, true))
}

fn client_error(e: OidcError, basic: bool) -> Response {
    let mut r = oauth_error(&e);
    if basic && matches!(e, OidcError::InvalidClient) {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"usher\""),
        );
    }
    r
}
