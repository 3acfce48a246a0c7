//! The token side of the provider: codes become grants (an access token, a refresh token when
//! the client gets one, an id_token), refresh tokens rotate inside their grant, userinfo and
//! revocation read the hashed tokens. Every check of a token asks the shared store whether the
//! Usher session and the person behind it still hold, so nothing here is cached.
//!
//! Must never: hand out a token for a code used twice (the first use's tokens are revoked too),
//! accept a rotated refresh token (its whole grant is revoked), or log a token or secret.

use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::keys::KeyCache;
use super::{claims, has_scope, hash_value, is_pkce_value, random_value, s256, OidcError};
use crate::crypto::SecretKey;
use crate::domain::now;
use crate::settings::OidcSettings;
use crate::store::{Grant, NewCode, NewToken, OidcClient, Store};

/// What the provider needs: the store, the keys, the issuer and the lifetimes in force.
pub struct Provider<'a> {
    pub store: &'a Store,
    pub keys: &'a KeyCache,
    pub secret_key: &'a SecretKey,
    /// `public_url` exactly as stored.
    pub issuer: &'a str,
    pub lifetimes: OidcSettings,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// A code request that passed the authorization endpoint's checks.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    pub redirect_uri: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
}

impl Provider<'_> {
    /// Makes a code for a signed-in person; returns the code to send back.
    pub async fn issue_code(&self, grant: Grant, req: CodeRequest) -> Result<String, OidcError> {
        let code = random_value();
        self.store
            .add_oidc_code(&NewCode {
                code_hash: hash_value(&code),
                grant,
                redirect_uri: req.redirect_uri,
                nonce: req.nonce,
                code_challenge: req.code_challenge,
                expires_at: now() + super::CODE_SECONDS,
            })
            .await?;
        Ok(code)
    }

    /// `grant_type=authorization_code`.
    pub async fn exchange_code(
        &self,
        client: &OidcClient,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        let at = now();
        let code_hash = hash_value(code);
        let Some(stored) = self.store.oidc_code(&code_hash).await? else {
            return Err(OidcError::InvalidGrant("unknown code"));
        };
        if stored.used {
            return Err(self.code_reused(client, &code_hash).await);
        }
        if stored.grant.client_id != client.id {
            return Err(OidcError::InvalidGrant(
                "the code was issued to another client",
            ));
        }
        if stored.expires_at <= at {
            return Err(OidcError::InvalidGrant("the code has expired"));
        }
        if redirect_uri != Some(stored.redirect_uri.as_str()) {
            return Err(OidcError::InvalidGrant(
                "redirect_uri differs from the authorization request",
            ));
        }
        check_pkce(client, stored.code_challenge.as_deref(), verifier)?;
        if !self.store.oidc_grant_live(&stored.grant, at).await? {
            return Err(OidcError::InvalidGrant(
                "the sign-in behind the code has ended",
            ));
        }
        let grant_id = random_value();
        let (answer, tokens) = self
            .tokens(client, &stored.grant, stored.nonce.as_deref())
            .await?;
        if !self
            .store
            .redeem_oidc_code(&code_hash, &grant_id, &stored.grant, &tokens, at)
            .await?
        {
            return Err(self.code_reused(client, &code_hash).await);
        }
        Ok(answer)
    }

    /// A code's second use: what the first use issued is revoked.
    async fn code_reused(&self, client: &OidcClient, code_hash: &str) -> OidcError {
        match self.store.revoke_code_grant(code_hash).await {
            Ok(n) => {
                tracing::warn!(client = %client.id, revoked = n, "authorization code used twice: its tokens are revoked");
                OidcError::InvalidGrant("the code was already used")
            }
            Err(e) => e.into(),
        }
    }

    /// `grant_type=refresh_token`: a new access and refresh token; the old one is spent. A
    /// rotated token used again revokes its grant.
    pub async fn refresh(
        &self,
        client: &OidcClient,
        refresh_token: &str,
    ) -> Result<TokenResponse, OidcError> {
        let at = now();
        let hash = hash_value(refresh_token);
        let invalid = OidcError::InvalidGrant("the refresh token is not valid");
        let Some(t) = self.store.oidc_token(&hash, at).await? else {
            return Err(invalid);
        };
        if t.kind != "refresh" || t.grant.client_id != client.id || t.expires_at <= at {
            return Err(invalid);
        }
        if !t.used && t.live {
            let (answer, tokens) = self.tokens(client, &t.grant, None).await?;
            let rotated = self
                .store
                .rotate_oidc_refresh(&hash, &t.grant_id, &t.grant, &tokens, at)
                .await?;
            if rotated {
                return Ok(answer);
            }
        }
        let n = self.store.revoke_oidc_grant(&t.grant_id).await?;
        tracing::info!(client = %client.id, revoked = n, live = t.live, "refresh refused: grant revoked");
        Err(invalid)
    }

    /// The answer for a grant and the hashed tokens to store with it.
    async fn tokens(
        &self,
        client: &OidcClient,
        grant: &Grant,
        nonce: Option<&str>,
    ) -> Result<(TokenResponse, Vec<NewToken>), OidcError> {
        let at = now();
        let access = random_value();
        let access_seconds = self.lifetimes.access_token_seconds;
        let mut tokens = vec![NewToken {
            token_hash: hash_value(&access),
            kind: "access",
            expires_at: at + access_seconds,
        }];
        let refresh =
            (!client.public || has_scope(&grant.scope, "offline_access")).then(random_value);
        if let Some(r) = &refresh {
            tokens.push(NewToken {
                token_hash: hash_value(r),
                kind: "refresh",
                expires_at: at + self.lifetimes.refresh_token_days * 86_400,
            });
        }
        let id_token = self.id_token(client, grant, nonce, at).await?;
        let answer = TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: access_seconds,
            id_token,
            refresh_token: refresh,
            scope: grant.scope.clone(),
        };
        Ok((answer, tokens))
    }

    async fn id_token(
        &self,
        client: &OidcClient,
        grant: &Grant,
        nonce: Option<&str>,
        at: i64,
    ) -> Result<String, OidcError> {
        let user = self
            .store
            .get_user(grant.user_id)
            .await?
            .ok_or(OidcError::InvalidGrant("the person no longer exists"))?;
        let sub = claims::subject(self.store, user.id).await?;
        let mut c = claims::profile_claims(&user, &sub, &grant.scope);
        c.insert("iss".into(), json!(self.issuer));
        c.insert("aud".into(), json!(client.id));
        c.insert("azp".into(), json!(client.id));
        c.insert("iat".into(), json!(at));
        c.insert("exp".into(), json!(at + self.lifetimes.id_token_seconds));
        c.insert("auth_time".into(), json!(grant.auth_time));
        if let Some(n) = nonce {
            c.insert("nonce".into(), json!(n));
        }
        let ring = self.keys.ring(self.store, self.secret_key).await?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(ring.signing_kid.clone());
        jsonwebtoken::encode(&header, &c, &ring.signing)
            .map_err(|e| OidcError::Server(format!("signing the id_token: {e}")))
    }

    /// The userinfo answer for a bearer access token; `InvalidToken` for anything not live.
    pub async fn userinfo(&self, access_token: &str) -> Result<Map<String, Value>, OidcError> {
        let at = now();
        let t = self
            .store
            .oidc_token(&hash_value(access_token), at)
            .await?
            .filter(|t| t.kind == "access" && t.expires_at > at && t.live)
            .ok_or(OidcError::InvalidToken)?;
        let user = self
            .store
            .get_user(t.grant.user_id)
            .await?
            .ok_or(OidcError::InvalidToken)?;
        let sub = claims::subject(self.store, user.id).await?;
        Ok(claims::profile_claims(&user, &sub, &t.grant.scope))
    }

    /// RFC 7009: revokes a token of this client (a refresh token takes its whole grant along).
    /// Unknown tokens, and other clients' tokens, are not an error.
    pub async fn revoke(&self, client: &OidcClient, token: &str) -> Result<(), OidcError> {
        let hash = hash_value(token);
        let Some(t) = self.store.oidc_token(&hash, now()).await? else {
            return Ok(());
        };
        if t.grant.client_id != client.id {
            return Ok(());
        }
        if t.kind == "refresh" {
            self.store.revoke_oidc_grant(&t.grant_id).await?;
        } else {
            self.store.revoke_oidc_token(&hash).await?;
        }
        Ok(())
    }
}

/// PKCE (RFC 7636, S256 only): a code made with a challenge needs the matching verifier; one
/// made without refuses a verifier, and a public client must have used PKCE.
fn check_pkce(
    client: &OidcClient,
    challenge: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), OidcError> {
    match (challenge, verifier) {
        (Some(c), Some(v)) if is_pkce_value(v) && s256(v) == c => Ok(()),
        (Some(_), _) => Err(OidcError::InvalidGrant("PKCE verification failed")),
        (None, Some(_)) => Err(OidcError::InvalidGrant(
            "code_verifier without a code_challenge",
        )),
        (None, None) if client.public => {
            Err(OidcError::InvalidGrant("a public client must use PKCE"))
        }
        (None, None) => Ok(()),
    }
}
