//! Ombi SSO (spec §9): `POST /api/v1/Token` with username/password, or `/api/v1/Token/plextoken`
//! for people who signed in through Plex; the fallback user when the person's own is refused.
//! The browser gets cookie `Auth` (read by Ombi's `/auth/cookie` page, so not HttpOnly) and the
//! localStorage item `id_token` for an Ombi on Usher's own origin. The API key checks the setup.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{
    parse_utc, password_of, Check, CookiePlan, Fallback, Grant, Identity, SsoError, StorageItem,
    Upstream,
};

const APP: &str = "Ombi";
/// Ombi's token lifetime with `rememberMe` and for Plex tokens, when its answer does not say.
const YEAR_SECONDS: i64 = 365 * 86_400;

/// One Ombi instance.
#[derive(Debug, Clone)]
pub struct Ombi {
    up: Upstream,
    api_key: Option<SecretString>,
    fallback: Option<Fallback>,
    cookie_domain: Option<String>,
    cookie_path: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expiration: Option<String>,
}

impl Ombi {
    /// An instance at `url` (how Usher reaches it); the `Auth` cookie goes to `cookie_path`.
    pub fn new(
        url: &str,
        api_key: Option<SecretString>,
        fallback: Option<Fallback>,
        cookie_domain: Option<String>,
        timeout: Duration,
    ) -> Result<Ombi, SsoError> {
        let up = Upstream::new(APP, url, timeout)?;
        Ok(Ombi {
            cookie_path: "/".into(),
            up,
            api_key: api_key.filter(|k| !k.expose_secret().is_empty()),
            fallback,
            cookie_domain,
        })
    }

    async fn token(&self, who: &Identity) -> Result<TokenAnswer, SsoError> {
        let req = match &who.plex_token {
            Some(t) => self
                .up
                .http
                .post(self.up.url("/api/v1/Token/plextoken"))
                .json(&json!({ "plexToken": t.expose_secret() })),
            None => self
                .up
                .http
                .post(self.up.url("/api/v1/Token"))
                .json(&json!({
                    "username": who.username,
                    "password": password_of(APP, who)?,
                    "rememberMe": true,
                    "usePlexOAuth": false,
                })),
        };
        let resp = self.up.send(req).await?;
        match resp.status().as_u16() {
            200 => self.up.json(resp).await,
            400 | 401 | 403 => Err(self.up.rejected(&who.username)),
            _ => Err(self.up.unexpected_status(resp.status())),
        }
    }

    async fn sign_in_inner(&self, who: &Identity) -> Result<Grant, SsoError> {
        let (answer, used_fallback) =
            super::with_fallback(self.fallback.as_ref(), who, |w| async move {
                self.token(&w).await
            })
            .await?;
        let now = crate::domain::now();
        let lifetime = answer
            .expiration
            .as_deref()
            .and_then(parse_utc)
            .map(|at| at - now)
            .filter(|s| *s > 0)
            .unwrap_or(YEAR_SECONDS);
        let token = SecretString::from(answer.access_token);
        Ok(Grant {
            cookies: vec![CookiePlan {
                name: "Auth".into(),
                value: token.clone(),
                domain: self.cookie_domain.clone(),
                path: self.cookie_path.clone(),
                max_age: Some(lifetime),
                http_only: false,
            }],
            storage: vec![StorageItem {
                key: "id_token".into(),
                value: token,
            }],
            lifetime: Some(lifetime),
            used_fallback,
        })
    }

    async fn check_inner(&self) -> Result<Check, SsoError> {
        let mut req = self.up.http.get(self.up.url("/api/v1/Status"));
        if let Some(key) = &self.api_key {
            req = req.header("ApiKey", key.expose_secret());
        }
        let resp = self.up.send(req).await?;
        let status = resp.status().as_u16();
        let (url_ok, api_ok, detail) = match (status, &self.api_key) {
            (200, Some(_)) => (
                true,
                Some(true),
                "Ombi answers and accepts the API key".into(),
            ),
            (200, None) => (true, None, "Ombi answers; no API key configured".into()),
            (401, Some(_)) => (
                true,
                Some(false),
                "Ombi answers but refuses the API key".into(),
            ),
            (s, _) => (
                false,
                self.api_key.as_ref().map(|_| false),
                format!(
                    "{} answered HTTP {s}, not Ombi's status",
                    self.up.url("/api/v1/Status")
                ),
            ),
        };
        Ok(Check {
            url_ok,
            api_ok,
            detail,
        })
    }
}

// No lockout on failed Ombi sign-ins is known (spec §9); a refusal is still not repeated for 5 min.
sso_app!(Ombi, lockout_window = std::time::Duration::from_secs(300));
