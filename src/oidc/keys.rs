//! RS256 signing keys: made on first use (RSA 2048 from the `rsa` crate, signing by
//! `jsonwebtoken`/ring), kept encrypted with the instance key, published with their `kid` in the
//! JWKS. Rotation keeps the previous key published until the id_tokens it signed have expired
//! (or drops it at once, for a key thought compromised). The key ring is cached in memory and
//! dropped when the change feed says keys changed; JWKS is served from that memory.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;

use super::OidcError;
use crate::crypto::SecretKey;
use crate::domain::now;
use crate::store::{Actor, Store};

/// Longest time the ring is trusted without the change feed saying anything (seconds).
const RELOAD_SECONDS: i64 = 300;

/// The keys in force, ready to sign and to publish.
pub struct KeyRing {
    pub signing_kid: String,
    pub signing: EncodingKey,
    /// Every published key by kid (to check an `id_token_hint`).
    pub verifying: Vec<(String, DecodingKey)>,
    /// The JWKS document, serialised once.
    pub jwks: String,
    fresh_until: i64,
}

/// The cached ring; empty until first use and after a change.
#[derive(Default)]
pub struct KeyCache {
    ring: ArcSwapOption<KeyRing>,
    making: tokio::sync::Mutex<()>,
}

impl KeyCache {
    /// Forgets the ring (another process made or rotated a key).
    pub fn forget(&self) {
        self.ring.store(None);
    }

    /// The ring in force, read (and on first use made) from the store.
    pub async fn ring(&self, store: &Store, key: &SecretKey) -> Result<Arc<KeyRing>, OidcError> {
        if let Some(r) = self.ring.load_full().filter(|r| r.fresh_until > now()) {
            return Ok(r);
        }
        let _one_at_a_time = self.making.lock().await;
        if let Some(r) = self.ring.load_full().filter(|r| r.fresh_until > now()) {
            return Ok(r);
        }
        let mut stored = store.oidc_keys(now()).await?;
        if !stored.iter().any(|k| k.retired_at.is_none()) {
            let (kid, sealed) = new_key(key).await?;
            store
                .add_oidc_key(&kid, &sealed, None, &Actor::default())
                .await?;
            tracing::info!(kid = %kid, "OpenID Connect signing key made");
            stored = store.oidc_keys(now()).await?;
        }
        let ring = Arc::new(build_ring(&stored, key)?);
        self.ring.store(Some(ring.clone()));
        Ok(ring)
    }
}

/// Makes a new key and retires the signing one; it stays published `keep_seconds` more.
pub async fn rotate(
    store: &Store,
    key: &SecretKey,
    keep_seconds: i64,
) -> Result<String, OidcError> {
    let (kid, sealed) = new_key(key).await?;
    store
        .add_oidc_key(&kid, &sealed, Some(now() + keep_seconds), &Actor::cli())
        .await?;
    Ok(kid)
}

/// A fresh RSA key (off the async threads: it takes a moment) and its encrypted PKCS#1 DER.
async fn new_key(key: &SecretKey) -> Result<(String, String), OidcError> {
    let der = tokio::task::spawn_blocking(|| {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| OidcError::Server(format!("RSA key generation: {e}")))?;
        let der = private
            .to_pkcs1_der()
            .map_err(|e| OidcError::Server(format!("RSA key encoding: {e}")))?;
        Ok::<_, OidcError>(der.as_bytes().to_vec())
    })
    .await
    .map_err(|e| OidcError::Server(e.to_string()))??;
    Ok((
        crate::crypto::random_token(12),
        key.encrypt(&B64.encode(der)),
    ))
}

fn build_ring(stored: &[crate::store::StoredKey], key: &SecretKey) -> Result<KeyRing, OidcError> {
    let mut signing = None;
    let mut verifying = Vec::new();
    let mut published = Vec::new();
    for k in stored {
        let der = key
            .decrypt(&k.private_key)
            .ok()
            .and_then(|b| B64.decode(b).ok())
            .ok_or_else(|| OidcError::Server(format!("signing key {} cannot be read", k.kid)))?;
        let private = RsaPrivateKey::from_pkcs1_der(&der)
            .map_err(|e| OidcError::Server(format!("signing key {}: {e}", k.kid)))?;
        let n = B64URL.encode(private.n().to_bytes_be());
        let e = B64URL.encode(private.e().to_bytes_be());
        let decoding = DecodingKey::from_rsa_components(&n, &e)
            .map_err(|e| OidcError::Server(e.to_string()))?;
        verifying.push((k.kid.clone(), decoding));
        published.push(serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid, "n": n, "e": e,
        }));
        // Newest first: the first unretired key signs.
        if signing.is_none() && k.retired_at.is_none() {
            let enc = EncodingKey::from_rsa_der(&der);
            signing = Some((k.kid.clone(), enc));
        }
    }
    let (signing_kid, signing) =
        signing.ok_or_else(|| OidcError::Server("no signing key".into()))?;
    Ok(KeyRing {
        signing_kid,
        signing,
        verifying,
        jwks: serde_json::json!({ "keys": published }).to_string(),
        fresh_until: now() + RELOAD_SECONDS,
    })
}
