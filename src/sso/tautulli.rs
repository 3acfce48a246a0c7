//! Tautulli SSO: `POST {url}/auth/signin` (spec §8.1) with the instance's API key as `X-Api-Key`
//! (which passes Tautulli's CSRF rule, ≥ 2.17.1). The browser gets `tautulli_token_<uuid>` (uuid
//! from the answer) on the instance's path.
//!
//! It must never post credentials Tautulli would refuse: every refusal counts against Usher's
//! address, and Tautulli locks an address out after 10 in 5 minutes — for everyone signing in
//! through Usher. So it first asks Tautulli's API whether the person can sign in at all (its
//! admin login, or a Plex user it lets in), and without an API key it does not try.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

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

    /// One Tautulli API v2 command (`{url}/api/v2?apikey=…&cmd=…`): its `response.data`.
    async fn api(
        &self,
        key: &SecretString,
        cmd: &str,
        extra: &[(&str, &str)],
    ) -> Result<Value, SsoError> {
        let mut query = vec![("apikey", key.expose_secret()), ("cmd", cmd)];
        query.extend_from_slice(extra);
        let req = self.up.http.get(self.up.url("/api/v2")).query(&query);
        let resp = self.up.send(req).await?;
        if !resp.status().is_success() {
            return Err(self
                .up
                .unexpected(format!("its API answered HTTP {} to {cmd}", resp.status())));
        }
        let mut body: Value = self.up.json(resp).await?;
        if body["response"]["result"] != "success" {
            let said = body["response"]["message"].as_str().unwrap_or_default();
            return Err(if said.to_ascii_lowercase().contains("apikey") {
                self.up.bad_api_key()
            } else {
                self.up.unexpected(format!("its API refused {cmd}: {said}"))
            });
        }
        Ok(body["response"]["data"].take())
    }

    /// Whether Tautulli would let `who` in, asked through its API before any credentials are
    /// posted (spec §8.2): a refused sign-in counts against Usher's address, and after 10 of
    /// them in 5 minutes Tautulli locks everybody signing in through Usher out. Answers the API
    /// key to sign in with.
    async fn would_let_in(&self, who: &Identity) -> Result<&SecretString, SsoError> {
        let Some(key) = &self.api_key else {
            return Err(self.not_allowed(who, "no API key is set (sso.tautulli.api_key), so Usher cannot ask Tautulli who may sign in, and every refused sign-in would count towards Tautulli locking out Usher's address"));
        };
        let settings = self.api(key, "get_settings", &[("key", "General")]).await?;
        if who.plex_token.is_none() {
            // A password is only ever Tautulli's own admin login (HTTP_USERNAME/HTTP_PASSWORD).
            let admin_login = settings["http_username"].as_str().unwrap_or_default();
            let has_password = settings["http_password"]
                .as_str()
                .is_some_and(|p| !p.is_empty());
            return if has_password && !admin_login.is_empty() && admin_login == who.username {
                Ok(key)
            } else {
                Err(self.not_allowed(who, "they signed in with a password, and Tautulli takes a password only for its own admin login (Settings / Web Interface); anyone else must sign in with Plex"))
            };
        }
        let plex_admin = truthy(&settings["http_plex_admin"]);
        let guests = truthy(&settings["allow_guest_access"]);
        let users = self.api(key, "get_users", &[]).await?;
        let user = users
            .as_array()
            .into_iter()
            .flatten()
            .find(|u| is_person(u, who));
        let Some(user) = user else {
            return Err(self.not_allowed(who, "their Plex account is not in Tautulli's user list (Tautulli lists the people your Plex server is shared with; Users / Refresh users)"));
        };
        if plex_admin && truthy(&user["is_admin"]) {
            return Ok(key);
        }
        if !truthy(&user["allow_guest"]) {
            return Err(self.not_allowed(
                who,
                "Allow Guest Access is off for them in Tautulli (Users / Edit user)",
            ));
        }
        if !guests {
            return Err(self.not_allowed(who, "Tautulli's Allow Guest Access is off (Settings / Web Interface / Allow Guest Access)"));
        }
        Ok(key)
    }

    fn not_allowed(&self, who: &Identity, reason: &str) -> SsoError {
        SsoError::NotAllowed {
            app: APP,
            url: self.up.base.to_string(),
            user: who.username.clone(),
            reason: reason.into(),
        }
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
        let key = self.would_let_in(who).await?;
        let form = [
            ("username", username.as_str()),
            ("password", password.as_str()),
            ("token", token.as_str()),
            ("remember_me", "1"),
        ];
        // The exact API key passes Tautulli's CSRF check (≥ 2.17.1).
        let req = self
            .up
            .http
            .post(self.up.url("/auth/signin"))
            .header(reqwest::header::ACCEPT, "application/json")
            .header("X-Api-Key", key.expose_secret())
            .form(&form);
        let resp = self.up.send(req).await?;
        match resp.status().as_u16() {
            200 => {}
            401 => return Err(self.up.rejected(&who.username)),
            403 => return Err(self.up.bad_api_key()),
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

// Tautulli locks an address out for 5 minutes after 10 failed sign-ins within 5 minutes
// (HTTP_RATE_LIMIT_*): a refusal is not repeated within those 10 minutes.
sso_app!(Tautulli, lockout_window = Duration::from_secs(600));

/// A Tautulli flag as its API gives it: 0/1, true/false, or "0"/"1".
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() != Some(0),
        Value::String(s) => !matches!(s.trim(), "" | "0" | "false"),
        _ => false,
    }
}

/// Whether a user of Tautulli's list is `who`: by Plex account id, else by name or e-mail.
fn is_person(user: &Value, who: &Identity) -> bool {
    let id = match &user["user_id"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    if let (Some(id), Some(plex_id)) = (id, who.plex_id) {
        return id == plex_id;
    }
    let same = |field: &str, mine: Option<&str>| {
        let theirs = user[field].as_str().unwrap_or_default();
        !theirs.is_empty() && mine.is_some_and(|m| m.eq_ignore_ascii_case(theirs))
    };
    same("username", Some(&who.username)) || same("email", who.email.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

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
