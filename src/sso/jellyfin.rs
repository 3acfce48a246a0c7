//! Jellyfin SSO (spec §10.2–10.3): `POST /Users/AuthenticateByName` with both `Authorization`
//! (Jellyfin ≥ 12 ignores anything else) and `X-Emby-Authorization` (Emby), then the two
//! localStorage items jellyfin-web reads, for a Jellyfin served under Usher's own origin.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{password_of, Check, Grant, Identity, SsoError, StorageItem, Upstream};

const APP: &str = "Jellyfin";

/// One Jellyfin instance.
#[derive(Debug, Clone)]
pub struct Jellyfin {
    up: Upstream,
    /// Where the browser opens Jellyfin (jellyfin-web's `ManualAddress`), e.g.
    /// `https://usher.example.com/jellyfin`.
    browser_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AuthAnswer {
    user: Value,
    access_token: String,
    server_id: String,
}

impl Jellyfin {
    /// An instance at `url` (how Usher reaches it), opened by browsers at `browser_url`
    /// (defaults to `url`).
    pub fn new(
        url: &str,
        browser_url: Option<&str>,
        timeout: Duration,
    ) -> Result<Jellyfin, SsoError> {
        let up = Upstream::new(APP, url, timeout)?;
        let browser_url = browser_url
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or(url)
            .trim_end_matches('/')
            .to_string();
        Ok(Jellyfin { up, browser_url })
    }

    /// The MediaBrowser authorization value; the device id is stable per person so Jellyfin
    /// shows one device per person rather than one per login.
    fn authorization(username: &str) -> String {
        let device = hex::encode(&Sha256::digest(format!("usher-sso:{username}"))[..8]);
        format!(
            "MediaBrowser Client=\"Usher\", Device=\"Usher\", DeviceId=\"usher-{device}\", Version=\"{}\"",
            env!("CARGO_PKG_VERSION")
        )
    }

    async fn sign_in_inner(&self, who: &Identity) -> Result<Grant, SsoError> {
        let password = password_of(APP, who)?;
        let auth = Self::authorization(&who.username);
        let req = self
            .up
            .http
            .post(self.up.url("/Users/AuthenticateByName"))
            .header(reqwest::header::AUTHORIZATION, &auth)
            .header("X-Emby-Authorization", &auth)
            .json(&json!({ "Username": who.username, "Pw": password }));
        let resp = self.up.send(req).await?;
        match resp.status().as_u16() {
            200 => {}
            401 | 403 => return Err(self.up.rejected(&who.username)),
            _ => return Err(self.up.unexpected_status(resp.status())),
        }
        let answer: AuthAnswer = self.up.json(resp).await?;
        let user_id = answer.user["Id"]
            .as_str()
            .ok_or_else(|| self.up.unexpected("the answer has no User.Id"))?
            .to_string();
        let credentials = json!({"Servers": [{
            "ManualAddress": self.browser_url,
            "Id": answer.server_id,
            "UserId": user_id,
            "AccessToken": answer.access_token,
            "DateLastAccessed": crate::domain::now() * 1000,
            "LastConnectionMode": 2,
        }]});
        Ok(Grant {
            cookies: Vec::new(),
            storage: vec![
                StorageItem {
                    key: "jellyfin_credentials".into(),
                    value: SecretString::from(credentials.to_string()),
                },
                StorageItem {
                    key: format!("user-{user_id}-{}", answer.server_id),
                    value: SecretString::from(answer.user.to_string()),
                },
            ],
            lifetime: None,
            used_fallback: false,
        })
    }

    async fn check_inner(&self) -> Result<Check, SsoError> {
        let url = self.up.url("/System/Info/Public");
        let resp = self.up.send(self.up.http.get(&url)).await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or_default();
        let product = body["ProductName"].as_str().unwrap_or_default();
        let url_ok =
            status.is_success() && (product.contains("Jellyfin") || product.contains("Emby"));
        let detail = if url_ok {
            format!(
                "{product} {} answers",
                body["Version"].as_str().unwrap_or("?")
            )
        } else {
            format!("{url} answered HTTP {status} without Jellyfin's public system info")
        };
        Ok(Check {
            url_ok,
            api_ok: None,
            detail,
        })
    }
}

// Jellyfin disables an account after 3 failed sign-ins (5 for administrators) until an admin
// enables it again: a refused password is not tried again for a day.
sso_app!(
    Jellyfin,
    lockout_window = std::time::Duration::from_secs(86_400)
);
