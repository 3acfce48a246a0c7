//! RP-initiated logout's checks: an `id_token_hint` counts only when Usher signed it (an
//! expired one is fine: that is the usual case at sign-out), and the address to go back to must
//! be on the origin of one of the client's registered redirect URIs.

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use crate::core::Core;
use crate::domain::UserId;
use crate::store::OidcClient;

/// What a verified id_token_hint says.
pub struct Hint {
    pub client_id: String,
    pub sub: String,
}

/// The hint's client and subject when Usher signed it with a key it still publishes.
pub async fn verify_hint(core: &Core, issuer: &str, token: &str) -> Option<Hint> {
    let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
    let ring = core
        .oidc_keys
        .ring(&core.store, &core.secret_key)
        .await
        .ok()?;
    let (_, key) = ring.verifying.iter().find(|(k, _)| *k == kid)?;
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v.set_issuer(&[issuer]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &v)
        .ok()?
        .claims;
    Some(Hint {
        client_id: claims.get("aud")?.as_str()?.to_string(),
        sub: claims.get("sub")?.as_str()?.to_string(),
    })
}

/// True when the hint names this person.
pub async fn hint_names(core: &Core, hint: &Hint, user: UserId) -> bool {
    crate::oidc::claims::subject(&core.store, user)
        .await
        .is_ok_and(|sub| sub == hint.sub)
}

/// True when `uri` has the scheme, host and port of one of the client's redirect URIs.
pub fn same_origin_as_registered(client: &OidcClient, uri: &str) -> bool {
    let Ok(target) = url::Url::parse(uri) else {
        return false;
    };
    client
        .redirect_uris
        .iter()
        .any(|r| url::Url::parse(r).is_ok_and(|r| r.origin() == target.origin()))
}
