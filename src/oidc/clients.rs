//! Registering relying parties and checking who is calling. A client id is a short name; a
//! redirect URI is matched exactly (scheme, host, port, path, query) and must be https, or http
//! on a loopback address, or http where the admin allowed it. A confidential client's secret is
//! 256 random bits shown once and kept as SHA-256 (see migrations/…/0009_oidc.sql for why not
//! argon2); public clients have none and must use PKCE.

use subtle::ConstantTimeEq;
use url::Url;

use super::{hash_value, random_value, OidcError};
use crate::domain::group::{ADMIN, GUEST};
use crate::domain::GroupId;
use crate::store::{Actor, OidcClient, OidcClientPatch, Store, StoreError};

/// The group a client admits up to when none is given: 4, User (not Guests).
pub const DEFAULT_MAX_GROUP: GroupId = 4;

/// Longest client id.
const MAX_ID_CHARS: usize = 64;

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String),
    #[error("there is no client {0:?}")]
    NotFound(String),
    #[error("a client {0:?} already exists")]
    Exists(String),
    #[error(transparent)]
    Store(StoreError),
}

impl ClientError {
    fn from_store(e: StoreError, id: &str) -> Self {
        match e {
            StoreError::NotFound => ClientError::NotFound(id.to_string()),
            StoreError::Conflict(_) => ClientError::Exists(id.to_string()),
            other => ClientError::Store(other),
        }
    }
}

/// What an admin registers (also the body of `POST /api/v2/oidc/clients`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub id: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    /// Admits people whose group number is at most this (default 4, User).
    #[serde(rename = "group")]
    pub max_group: Option<GroupId>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub allow_http: bool,
    /// A secret the admin chose (`--secret-stdin`); otherwise one is made. Never from the API.
    #[serde(skip)]
    pub secret: Option<String>,
}

/// Checks a client id: letters, digits and `-_.`, 1 to 64 characters.
pub fn check_id(id: &str) -> Result<(), ClientError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "client id {id:?}: use 1 to {MAX_ID_CHARS} letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Checks one redirect URI (absolute, no fragment, https or loopback http unless allowed).
pub fn check_redirect_uri(uri: &str, allow_http: bool) -> Result<(), ClientError> {
    let bad = |why: &str| ClientError::Invalid(format!("redirect URI {uri:?}: {why}"));
    let url = Url::parse(uri).map_err(|_| bad("not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(bad("may not have a #fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("may not hold a user name or password"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(&url) => Ok(()),
        "http" => Err(bad(
            "http is allowed only for loopback addresses (127.0.0.1, [::1], localhost); use https, or --allow-http if the app really is reached over plain http",
        )),
        _ => Err(bad("must be http(s)")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn check_group(group: GroupId) -> Result<(), ClientError> {
    if (ADMIN..=GUEST).contains(&group) {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "group {group}: give a group number from {ADMIN} to {GUEST}"
        )))
    }
}

fn check_uris(uris: &[String], allow_http: bool) -> Result<(), ClientError> {
    if uris.is_empty() {
        return Err(ClientError::Invalid(
            "give at least one redirect URI".into(),
        ));
    }
    uris.iter()
        .try_for_each(|u| check_redirect_uri(u, allow_http))
}

/// Registers a client; returns it and, for a confidential client, the secret (shown once).
pub async fn add(
    store: &Store,
    new: NewClient,
    actor: &Actor,
) -> Result<(OidcClient, Option<String>), ClientError> {
    check_id(&new.id)?;
    check_uris(&new.redirect_uris, new.allow_http)?;
    let max_group = new.max_group.unwrap_or(DEFAULT_MAX_GROUP);
    check_group(max_group)?;
    let secret = match (new.public, new.secret) {
        (true, Some(_)) => {
            return Err(ClientError::Invalid("a public client has no secret".into()))
        }
        (true, None) => None,
        (false, Some(s)) if s.trim().len() < 32 => {
            return Err(ClientError::Invalid(
                "a client secret must be at least 32 characters".into(),
            ))
        }
        (false, Some(s)) => Some(s.trim().to_string()),
        (false, None) => Some(random_value()),
    };
    let client = OidcClient {
        name: new.name.unwrap_or_else(|| new.id.clone()),
        id: new.id,
        public: new.public,
        secret_hash: secret.as_deref().map(hash_value),
        redirect_uris: new.redirect_uris,
        max_group,
        allow_http: new.allow_http,
        created_at: crate::domain::now(),
        updated_at: crate::domain::now(),
    };
    store
        .create_oidc_client(&client, actor)
        .await
        .map_err(|e| ClientError::from_store(e, &client.id))?;
    Ok((client, secret))
}

/// Changes a client (URIs re-checked against the allow-http choice in force after the change).
pub async fn update(
    store: &Store,
    id: &str,
    patch: OidcClientPatch,
    actor: &Actor,
) -> Result<OidcClient, ClientError> {
    let current = get(store, id).await?;
    let allow_http = patch.allow_http.unwrap_or(current.allow_http);
    check_uris(
        patch
            .redirect_uris
            .as_ref()
            .unwrap_or(&current.redirect_uris),
        allow_http,
    )?;
    if let Some(g) = patch.max_group {
        check_group(g)?;
    }
    store
        .update_oidc_client(id, &patch, actor)
        .await
        .map_err(|e| ClientError::from_store(e, id))
}

/// One client.
pub async fn get(store: &Store, id: &str) -> Result<OidcClient, ClientError> {
    store
        .oidc_client(id)
        .await
        .map_err(ClientError::Store)?
        .ok_or_else(|| ClientError::NotFound(id.to_string()))
}

/// Gives a confidential client a new secret (returned once); the old one stops working.
pub async fn new_secret(store: &Store, id: &str, actor: &Actor) -> Result<String, ClientError> {
    let client = get(store, id).await?;
    if client.public {
        return Err(ClientError::Invalid(format!(
            "{id:?} is a public client: it has no secret"
        )));
    }
    let secret = random_value();
    store
        .set_oidc_client_secret(id, &hash_value(&secret), actor)
        .await
        .map_err(|e| ClientError::from_store(e, id))?;
    Ok(secret)
}

/// Deletes a client and every code and token it holds.
pub async fn delete(store: &Store, id: &str, actor: &Actor) -> Result<(), ClientError> {
    store
        .delete_oidc_client(id, actor)
        .await
        .map_err(|e| ClientError::from_store(e, id))
}

/// How a client identified itself at the token or revocation endpoint.
#[derive(Debug, Default)]
pub struct Credentials {
    pub id: Option<String>,
    pub secret: Option<String>,
}

/// The client behind `creds`: a confidential one must prove its secret, a public one must not
/// send one. Unknown client, wrong or missing secret: `invalid_client`.
pub async fn authenticate(store: &Store, creds: &Credentials) -> Result<OidcClient, OidcError> {
    let id = creds.id.as_deref().ok_or(OidcError::InvalidClient)?;
    let client = store
        .oidc_client(id)
        .await?
        .ok_or(OidcError::InvalidClient)?;
    match (&client.secret_hash, &creds.secret) {
        (None, None) => Ok(client),
        (Some(stored), Some(given)) => {
            let ok: bool = hash_value(given).as_bytes().ct_eq(stored.as_bytes()).into();
            if ok {
                Ok(client)
            } else {
                Err(OidcError::InvalidClient)
            }
        }
        _ => Err(OidcError::InvalidClient),
    }
}

/// True when `uri` is one of the client's redirect URIs, byte for byte.
pub fn redirect_registered(client: &OidcClient, uri: &str) -> bool {
    client.redirect_uris.iter().any(|u| u == uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_need_https_or_loopback() {
        assert!(
            check_redirect_uri("https://grafana.example.com/login/generic_oauth", false).is_ok()
        );
        assert!(check_redirect_uri("http://127.0.0.1:4180/oauth2/callback", false).is_ok());
        assert!(check_redirect_uri("http://localhost/cb", false).is_ok());
        assert!(check_redirect_uri("http://[::1]:80/cb", false).is_ok());
        assert!(check_redirect_uri("http://grafana.lan/cb", false).is_err());
        assert!(check_redirect_uri("http://grafana.lan/cb", true).is_ok());
        assert!(check_redirect_uri("https://x.example.com/cb#frag", false).is_err());
        assert!(check_redirect_uri("javascript:alert(1)", true).is_err());
        assert!(check_redirect_uri("/relative", true).is_err());
    }

    #[test]
    fn client_ids_are_short_names() {
        assert!(check_id("grafana").is_ok());
        assert!(check_id("my-app_2.0").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("a b").is_err());
        assert!(check_id(&"x".repeat(65)).is_err());
    }
}
