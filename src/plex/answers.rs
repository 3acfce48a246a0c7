//! Reading plex.tv's answers: errors mapped to [`PlexError`], JSON bodies (accounts, PINs,
//! resources) and the small conversions plex.tv's loose typing needs.

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::client::{Answer, Kind, PlexClient};
use super::xml::{self, ApiError};
use super::{redact_quoted, PlexAccount, PlexConnection, PlexError, PlexServer, PlexToken};

impl PlexClient {
    /// Turns a non-2xx answer into the error a person can act on.
    pub(super) fn failure(&self, answer: &Answer, kind: Kind) -> PlexError {
        let errors = api_errors(&answer.body);
        let code = errors.iter().find_map(|e| e.code);
        let message = errors
            .iter()
            .map(|e| e.message.as_str())
            .find(|m| !m.is_empty())
            .unwrap_or("");
        let status = answer.status;
        if code == Some(1031) || status == StatusCode::TOO_MANY_REQUESTS {
            return PlexError::RateLimited;
        }
        if kind == Kind::SignIn && status.is_client_error() && code != Some(1000) {
            // python-plexapi's test for 2FA is "the 401 body mentions a verification code".
            let lower = if message.is_empty() {
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(1024)])
                    .to_ascii_lowercase()
            } else {
                message.to_ascii_lowercase()
            };
            match code {
                Some(1029) => return PlexError::TwoFactorRequired,
                Some(1028) => return PlexError::WrongTwoFactorCode,
                Some(1001) => return PlexError::BadCredentials,
                _ if lower.contains("invalid verification code") => {
                    return PlexError::WrongTwoFactorCode
                }
                _ if lower.contains("verification code") => return PlexError::TwoFactorRequired,
                _ if matches!(status.as_u16(), 401 | 403 | 422) => {
                    return PlexError::BadCredentials
                }
                _ => {}
            }
        }
        if kind == Kind::Token && status == StatusCode::UNAUTHORIZED {
            return PlexError::TokenInvalid;
        }
        let mut detail = if code == Some(1000) {
            format!(
                "{} was refused: plex.tv did not get the X-Plex-Client-Identifier",
                answer.request
            )
        } else if status.is_server_error() {
            format!(
                "{} failed on plex.tv's side; plex.tv may be having problems, try again later",
                answer.request
            )
        } else {
            format!("{} was answered with HTTP {status}", answer.request)
        };
        if !message.is_empty() {
            detail.push_str(&format!(
                " (plex.tv says: {})",
                message.chars().take(200).collect::<String>()
            ));
        }
        self.unexpected(answer, detail)
    }

    pub(super) fn unexpected(&self, answer: &Answer, detail: String) -> PlexError {
        PlexError::Unexpected {
            url: self.shown_url(),
            status: Some(answer.status.as_u16()),
            detail,
        }
    }

    pub(super) fn text<'a>(&self, answer: &'a Answer) -> Result<&'a str, PlexError> {
        std::str::from_utf8(&answer.body).map_err(|_| {
            self.unexpected(
                answer,
                format!("{}: the answer is not UTF-8 text", answer.request),
            )
        })
    }

    pub(super) fn json<T: DeserializeOwned>(
        &self,
        answer: &Answer,
        what: &str,
    ) -> Result<T, PlexError> {
        serde_json::from_slice(&answer.body).map_err(|e| {
            let why = redact_quoted(&e.to_string());
            self.unexpected(
                answer,
                format!(
                    "{}: {what} is not the JSON expected ({why})",
                    answer.request
                ),
            )
        })
    }

    /// A v2 user object (or the legacy `{"user": {...}}` wrapper). `known_token` is used when the answer
    /// leaves `authToken` out.
    pub(super) fn parse_account(
        &self,
        answer: &Answer,
        known_token: Option<&PlexToken>,
    ) -> Result<PlexAccount, PlexError> {
        let mut value: Value = self.json(answer, "the account")?;
        if value.get("id").is_none() {
            if let Some(user) = value.get_mut("user").map(Value::take) {
                value = user;
            }
        }
        let raw: AccountJson = serde_json::from_value(value).map_err(|e| {
            let why = redact_quoted(&e.to_string());
            self.unexpected(
                answer,
                format!(
                    "{}: the account is not the JSON expected ({why})",
                    answer.request
                ),
            )
        })?;
        let token = raw
            .auth_token
            .or(raw.authentication_token)
            .filter(|t| !t.is_empty())
            .map(PlexToken::from)
            .or_else(|| known_token.cloned());
        let (Some(id), Some(token)) = (json_int(&raw.id), token) else {
            return Err(self.unexpected(
                answer,
                format!("{}: the account has no id or token", answer.request),
            ));
        };
        let username = raw.username.unwrap_or_default();
        Ok(PlexAccount {
            id,
            uuid: raw.uuid.unwrap_or_default(),
            title: raw
                .title
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| username.clone()),
            username,
            email: xml::non_empty(raw.email),
            thumb: xml::non_empty(raw.thumb),
            token,
            two_factor_enabled: json_flag(&raw.two_factor_enabled),
            email_unconfirmed: matches!(raw.confirmed, Some(Value::Bool(false))),
            home: json_flag(&raw.home),
            home_admin: json_flag(&raw.home_admin),
            restricted: json_flag(&raw.restricted),
            guest: json_flag(&raw.guest),
            protected: json_flag(&raw.protected),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountJson {
    pub(super) id: Option<Value>,
    pub(super) uuid: Option<String>,
    pub(super) username: Option<String>,
    pub(super) title: Option<String>,
    pub(super) email: Option<String>,
    pub(super) thumb: Option<String>,
    pub(super) auth_token: Option<String>,
    #[serde(rename = "authentication_token")]
    pub(super) authentication_token: Option<String>,
    pub(super) two_factor_enabled: Option<Value>,
    pub(super) confirmed: Option<Value>,
    pub(super) home: Option<Value>,
    pub(super) home_admin: Option<Value>,
    pub(super) restricted: Option<Value>,
    pub(super) guest: Option<Value>,
    pub(super) protected: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PinJson {
    pub(super) id: Option<Value>,
    pub(super) code: Option<String>,
    pub(super) expires_in: Option<Value>,
    pub(super) auth_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResourceJson {
    pub(super) name: Option<String>,
    pub(super) client_identifier: Option<String>,
    pub(super) provides: Option<String>,
    pub(super) owned: Option<Value>,
    pub(super) product_version: Option<String>,
    pub(super) source_title: Option<String>,
    pub(super) public_address: Option<String>,
    pub(super) access_token: Option<String>,
    pub(super) presence: Option<Value>,
    #[serde(default)]
    pub(super) connections: Vec<Value>,
}

/// One resource → a server, or `None` for clients/players and entries too odd to use.
pub(super) fn resource_to_server(device: Value) -> Option<PlexServer> {
    let raw: ResourceJson = serde_json::from_value(device).ok()?;
    if !raw
        .provides
        .as_deref()
        .unwrap_or("")
        .split(',')
        .any(|p| p.trim() == "server")
    {
        return None;
    }
    let connections = raw
        .connections
        .iter()
        .filter_map(|c| {
            let uri = c.get("uri")?.as_str()?.to_owned();
            Some(PlexConnection {
                uri,
                local: json_flag(&c.get("local").cloned()),
            })
        })
        .collect();
    Some(PlexServer {
        name: raw.name.unwrap_or_default(),
        machine_identifier: xml::non_empty(raw.client_identifier)?,
        owned: json_flag(&raw.owned),
        source_title: xml::non_empty(raw.source_title),
        version: xml::non_empty(raw.product_version),
        public_address: xml::non_empty(raw.public_address),
        access_token: xml::non_empty(raw.access_token).map(PlexToken::from),
        presence: raw.presence.as_ref().map(|p| json_flag(&Some(p.clone()))),
        connections,
    })
}

/// A JSON boolean that plex.tv may send as `true`, `1` or `"1"`.
/// A new PIN's `expiresIn`, within a day (plex.tv gives 30 minutes): a huge value from the
/// answer panicked `SystemTime + Duration` (shown with the `plex` fuzz target).
pub(super) fn pin_lifetime(expires_in: &Option<Value>) -> std::time::Duration {
    const DAY: i64 = 86_400;
    std::time::Duration::from_secs(json_int(expires_in).unwrap_or(0).clamp(0, DAY) as u64)
}

pub(super) fn json_flag(value: &Option<Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

pub(super) fn json_int(value: &Option<Value>) -> Option<i64> {
    match value {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `{"errors":[{code,message}]}`, `{"error":"…"}`, or the XML forms.
pub(super) fn api_errors(body: &[u8]) -> Vec<ApiError> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        if let Some(list) = value.get("errors").and_then(Value::as_array) {
            return list
                .iter()
                .map(|e| ApiError {
                    code: json_int(&e.get("code").cloned()),
                    message: e
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                })
                .collect();
        }
        if let Some(message) = value.get("error").and_then(Value::as_str) {
            return vec![ApiError {
                code: None,
                message: message.to_owned(),
            }];
        }
        return Vec::new();
    }
    std::str::from_utf8(body)
        .map(xml::parse_errors)
        .unwrap_or_default()
}

/// The innermost cause ("Connection refused (os error 111)"): reqwest's own message repeats the URL.
pub(super) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let text = cause.to_string();
    if std::ptr::eq(cause, error) || text.is_empty() {
        "the connection failed".into()
    } else {
        text
    }
}

/// JavaScript's `encodeURIComponent`: everything but `A–Z a–z 0–9 - _ . ! ~ * ' ( )` is %-encoded.
pub(super) fn encode_component(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for byte in input.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
