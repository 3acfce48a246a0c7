//! Tautulli SSO: `POST {url}/auth/signin` (spec §8.1), passing Tautulli's CSRF rule (≥ 2.17.1)
//! with the instance's API key as `X-Api-Key`, or through the csrf-token of `GET /auth/login`.
//! The browser gets `tautulli_token_<uuid>` (uuid from the answer) on the instance's path.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{
    password_of, response_cookies, retry_after, Check, CookiePlan, Grant, Identity, SsoError,
    Upstream,
};

const APP: &str = "Tautulli";
/// What `remember_me=1` gives (Tautulli's 30-day JWT), when its cookie does not say.
const REMEMBER_SECONDS: i64 = 30 * 86_400;

/// One Tautulli instance.
#[derive(Debug, Clone)]
pub struct Tautulli {
    up: Upstream,
    api_key: Option<SecretString>,
    /// Where the browser opens Tautulli (the cookie's path), e.g. `/tautulli`.
    browser_path: String,
    cookie_domain: Option<String>,
}

#[derive(Deserialize)]
struct SigninAnswer {
    status: String,
    token: Option<String>,
    uuid: Option<String>,
}

impl Tautulli {
    /// An instance at `url` (how Usher reaches it). `browser_path` defaults to the URL's path.
    pub fn new(
        url: &str,
        api_key: Option<SecretString>,
        browser_path: Option<&str>,
        cookie_domain: Option<String>,
        timeout: Duration,
    ) -> Result<Tautulli, SsoError> {
        let up = Upstream::new(APP, url, timeout)?;
        let browser_path = match browser_path.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) if p.starts_with('/') => p.trim_end_matches('/').to_string(),
            Some(p) => {
                return Err(SsoError::Config {
                    app: APP,
                    reason: format!("browser path {p:?} must start with /"),
                })
            }
            None => up.path(),
        };
        let browser_path = if browser_path.is_empty() {
            "/".into()
        } else {
            browser_path
        };
        Ok(Tautulli {
            up,
            api_key: api_key.filter(|k| !k.expose_secret().is_empty()),
            browser_path,
            cookie_domain,
        })
    }

    /// The CSRF token and session cookie from the login page (the path without an API key).
    async fn csrf(&self) -> Result<(String, String), SsoError> {
        let resp = self
            .up
            .send(self.up.http.get(self.up.url("/auth/login")))
            .await?;
        if !resp.status().is_success() {
            return Err(self.up.unexpected_status(resp.status()));
        }
        let session: Vec<String> = response_cookies(&resp)
            .iter()
            .filter(|c| c.name().starts_with("tautulli_session"))
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        let page = resp
            .text()
            .await
            .map_err(|_| self.up.unexpected("the login page could not be read"))?;
        let token = meta_content(&page, "csrf-token")
            .ok_or_else(|| self.up.unexpected("the login page has no csrf-token"))?;
        Ok((token, session.join("; ")))
    }

    async fn sign_in_inner(&self, who: &Identity) -> Result<Grant, SsoError> {
        let (username, password, token) = match &who.plex_token {
            Some(t) => (String::new(), String::new(), t.expose_secret().to_string()),
            None => (
                who.username.clone(),
                password_of(APP, who)?.to_string(),
                String::new(),
            ),
        };
        let form = [
            ("username", username.as_str()),
            ("password", password.as_str()),
            ("token", token.as_str()),
            ("remember_me", "1"),
        ];
        let mut req = self
            .up
            .http
            .post(self.up.url("/auth/signin"))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form);
        match &self.api_key {
            Some(key) => req = req.header("X-Api-Key", key.expose_secret()),
            None => {
                let (csrf, session) = self.csrf().await?;
                req = req.header("X-CSRF-Token", csrf);
                if !session.is_empty() {
                    req = req.header(reqwest::header::COOKIE, session);
                }
            }
        }
        let resp = self.up.send(req).await?;
        match resp.status().as_u16() {
            200 => {}
            401 => return Err(self.up.rejected(&who.username)),
            403 if self.api_key.is_some() => return Err(self.up.bad_api_key()),
            403 => {
                return Err(SsoError::Csrf {
                    app: APP,
                    url: self.up.base.to_string(),
                })
            }
            429 => {
                return Err(SsoError::RateLimited {
                    app: APP,
                    url: self.up.base.to_string(),
                    retry_after: retry_after(&resp),
                })
            }
            _ => return Err(self.up.unexpected_status(resp.status())),
        }
        let max_age = response_cookies(&resp)
            .iter()
            .find(|c| c.name().starts_with("tautulli_token_"))
            .and_then(|c| c.max_age())
            .map(|d| d.whole_seconds())
            .unwrap_or(REMEMBER_SECONDS);
        let answer: SigninAnswer = self.up.json(resp).await?;
        let (Some(token), Some(uuid)) = (answer.token, answer.uuid) else {
            return Err(self.up.rejected(&who.username));
        };
        if answer.status != "success" {
            return Err(self.up.rejected(&who.username));
        }
        if uuid.is_empty() || !uuid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(self
                .up
                .unexpected("the uuid in the answer is not a plain hex string"));
        }
        Ok(Grant {
            cookies: vec![CookiePlan {
                name: format!("tautulli_token_{uuid}"),
                value: SecretString::from(token),
                domain: self.cookie_domain.clone(),
                path: self.browser_path.clone(),
                max_age: Some(max_age),
                http_only: true,
            }],
            storage: Vec::new(),
            lifetime: Some(max_age),
            used_fallback: false,
        })
    }

    async fn check_inner(&self) -> Result<Check, SsoError> {
        let resp = self
            .up
            .send(self.up.http.get(self.up.url("/auth/login")))
            .await?;
        let status = resp.status();
        let page = resp.text().await.unwrap_or_default();
        let url_ok = status.is_success() && page.contains("Tautulli");
        let mut detail = if url_ok {
            "the login page answers and is Tautulli's".to_string()
        } else {
            format!(
                "{} answered HTTP {status} without Tautulli's login page",
                self.up.url("/auth/login")
            )
        };
        let api_ok = match &self.api_key {
            None => None,
            Some(key) => {
                let req = self
                    .up
                    .http
                    .get(self.up.url("/api/v2"))
                    .query(&[("apikey", key.expose_secret()), ("cmd", "status")]);
                let resp = self.up.send(req).await?;
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                let ok = body["response"]["result"] == "success";
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

sso_app!(Tautulli);

/// The `content` of `<meta name="{name}" content="…">`, attributes in any order.
fn meta_content(page: &str, name: &str) -> Option<String> {
    page.split("<meta").skip(1).find_map(|tag| {
        let tag = &tag[..tag.find('>')?];
        let has_name = attr(tag, "name").is_some_and(|n| n == name);
        has_name.then(|| attr(tag, "content")).flatten()
    })
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_meta_is_found_in_any_attribute_order() {
        let page =
            r#"<head><meta charset="utf-8"><meta content="abc123" name="csrf-token"></head>"#;
        assert_eq!(meta_content(page, "csrf-token").as_deref(), Some("abc123"));
        let page = r#"<meta name="csrf-token" content="x-y">"#;
        assert_eq!(meta_content(page, "csrf-token").as_deref(), Some("x-y"));
        assert_eq!(
            meta_content("<meta name=\"other\" content=\"1\">", "csrf-token"),
            None
        );
    }

    #[test]
    fn browser_path_defaults_to_the_url_path() {
        let t = |url: &str, path: Option<&str>| {
            Tautulli::new(url, None, path, None, Duration::from_secs(1)).map(|t| t.browser_path)
        };
        assert_eq!(
            t("http://10.0.0.5:8181/tautulli/", None).unwrap(),
            "/tautulli"
        );
        assert_eq!(t("http://10.0.0.5:8181", None).unwrap(), "/");
        assert_eq!(
            t("http://tautulli:8181", Some("/stats/")).unwrap(),
            "/stats"
        );
        assert!(t("http://tautulli:8181", Some("stats")).is_err());
        assert!(t("ftp://tautulli", None).is_err());
    }
}
