//! Overseerr / Jellyseerr SSO (spec §10.1): `POST /api/v1/auth/plex` with the person's Plex token,
//! or `POST /api/v1/auth/local` with email and password; the fallback user when refused. The
//! browser gets Overseerr's own `connect.sid` session cookie, handed over unchanged.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{
    password_of, response_cookies, Check, CookiePlan, Fallback, Grant, Identity, SsoError, Upstream,
};

const APP: &str = "Overseerr";
const SESSION_COOKIE: &str = "connect.sid";
/// express-session's maxAge in Overseerr, when its cookie does not say.
const MONTH_SECONDS: i64 = 30 * 86_400;

/// One Overseerr or Jellyseerr instance.
#[derive(Debug, Clone)]
pub struct Overseerr {
    up: Upstream,
    api_key: Option<SecretString>,
    fallback: Option<Fallback>,
    cookie_domain: Option<String>,
}

impl Overseerr {
    /// An instance at `url` (how Usher reaches it).
    pub fn new(
        url: &str,
        api_key: Option<SecretString>,
        fallback: Option<Fallback>,
        cookie_domain: Option<String>,
        timeout: Duration,
    ) -> Result<Overseerr, SsoError> {
        Ok(Overseerr {
            up: Upstream::new(APP, url, timeout)?,
            api_key: api_key.filter(|k| !k.expose_secret().is_empty()),
            fallback,
            cookie_domain,
        })
    }

    async fn session(&self, who: &Identity) -> Result<(String, i64), SsoError> {
        let req = match &who.plex_token {
            Some(t) => self
                .up
                .http
                .post(self.up.url("/api/v1/auth/plex"))
                .json(&json!({ "authToken": t.expose_secret() })),
            None => self
                .up
                .http
                .post(self.up.url("/api/v1/auth/local"))
                .json(&json!({
                    // Overseerr's local accounts sign in by email (as Organizr maps them).
                    "email": who.email.as_deref().unwrap_or(&who.username),
                    "password": password_of(APP, who)?,
                })),
        };
        let resp = self.up.send(req).await?;
        let status = resp.status();
        if status.as_u16() == 403 || status.as_u16() == 401 {
            return Err(self.up.rejected(&who.username));
        }
        if !status.is_success() {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            let said = body["message"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no message");
            return Err(self.up.unexpected(format!("HTTP {status}: {said}")));
        }
        let cookie = response_cookies(&resp)
            .into_iter()
            .find(|c| c.name() == SESSION_COOKIE)
            .ok_or_else(|| {
                self.up
                    .unexpected("the sign-in answer set no connect.sid cookie")
            })?;
        let max_age = cookie
            .max_age()
            .map(|d| d.whole_seconds())
            .unwrap_or(MONTH_SECONDS);
        Ok((cookie.value().to_string(), max_age))
    }

    async fn sign_in_inner(&self, who: &Identity) -> Result<Grant, SsoError> {
        let ((sid, max_age), used_fallback) =
            super::with_fallback(self.fallback.as_ref(), who, |w| async move {
                self.session(&w).await
            })
            .await?;
        Ok(Grant {
            cookies: vec![CookiePlan {
                name: SESSION_COOKIE.into(),
                value: SecretString::from(sid),
                domain: self.cookie_domain.clone(),
                path: "/".into(),
                max_age: Some(max_age),
                http_only: true,
            }],
            storage: Vec::new(),
            lifetime: Some(max_age),
            used_fallback,
        })
    }

    async fn check_inner(&self) -> Result<Check, SsoError> {
        let resp = self
            .up
            .send(self.up.http.get(self.up.url("/api/v1/status")))
            .await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let url_ok = status.is_success() && body["version"].is_string();
        let mut detail = if url_ok {
            format!(
                "Overseerr {} answers",
                body["version"].as_str().unwrap_or("?")
            )
        } else {
            format!(
                "{} answered HTTP {status} without a version",
                self.up.url("/api/v1/status")
            )
        };
        let api_ok = match &self.api_key {
            None => None,
            Some(key) => {
                let req = self
                    .up
                    .http
                    .get(self.up.url("/api/v1/settings/main"))
                    .header("X-Api-Key", key.expose_secret());
                let ok = self.up.send(req).await?.status().is_success();
                if !ok {
                    detail.push_str("; the API key was refused");
                }
                Some(ok)
            }
        };
        Ok(Check {
            url_ok,
            api_ok,
            detail,
        })
    }
}

// No lockout on failed Overseerr sign-ins is known (spec §10.1); a refusal is still not repeated for
// 5 min.
sso_app!(
    Overseerr,
    lockout_window = std::time::Duration::from_secs(300)
);
