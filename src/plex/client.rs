//! The HTTP side of the plex.tv client: one reqwest client (rustls, connect + total timeouts), the
//! X-Plex-* identification headers on every request, and the mapping of plex.tv's answers to
//! [`PlexError`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::xml::{self, ApiError};
use super::{
    redact_quoted, Pin, PinState, PlexAccount, PlexConnection, PlexError, PlexFriend, PlexServer,
    PlexToken,
};

/// Answers larger than this are refused rather than buffered (a friends list of thousands is ~2 MB).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How to reach plex.tv and how Usher introduces itself there.
#[derive(Debug, Clone)]
pub struct PlexClientConfig {
    /// plex.tv base URL (setting `plex.tv_url`, default `https://plex.tv`).
    pub tv_url: Url,
    /// This install's `X-Plex-Client-Identifier`; PINs are bound to it.
    pub client_identifier: String,
    /// `X-Plex-Product`, shown in the user's "Authorized Devices" (default `Usher`).
    pub product: String,
    /// `X-Plex-Version`.
    pub version: String,
    /// Time allowed to open the connection.
    pub connect_timeout: Duration,
    /// Time allowed for the whole request, answer included.
    pub timeout: Duration,
}

impl PlexClientConfig {
    /// Defaults: `https://plex.tv`, product `Usher`, this crate's version, 5 s to connect, 15 s in all.
    pub fn new(client_identifier: impl Into<String>) -> Self {
        Self {
            tv_url: Url::parse("https://plex.tv").expect("static URL"),
            client_identifier: client_identifier.into(),
            product: "Usher".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
        }
    }
}

/// A plex.tv client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct PlexClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: PlexClientConfig,
    /// `tv_url` with a trailing slash, so relative joins keep any path prefix.
    base: Url,
    /// `tv_url` as people write it, for messages.
    shown_url: String,
}

impl fmt::Debug for PlexClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlexClient")
            .field("tv_url", &self.inner.shown_url)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// Which endpoint family failed, to interpret 4xx answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    SignIn,
    Pin,
    Token,
}

struct Call<'a> {
    method: Method,
    /// Relative to the base, without a leading slash; may carry a query.
    path: &'a str,
    format: Format,
    token: Option<&'a PlexToken>,
    form: Option<&'a [(&'a str, &'a str)]>,
}

struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    /// `METHOD /path`, for messages.
    request: String,
}

impl PlexClient {
    /// Builds the client. Fails only on an unusable configuration.
    pub fn new(config: PlexClientConfig) -> Result<Self, PlexError> {
        if !matches!(config.tv_url.scheme(), "http" | "https") {
            return Err(PlexError::Config(format!(
                "plex.tv URL {} is not http(s)",
                config.tv_url
            )));
        }
        if config.client_identifier.trim().is_empty() {
            return Err(PlexError::Config(
                "the X-Plex-Client-Identifier is empty".into(),
            ));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-plex-client-identifier", &config.client_identifier),
            ("x-plex-product", &config.product),
            ("x-plex-version", &config.version),
            ("x-plex-device-name", &config.product),
        ] {
            let value = HeaderValue::from_str(value).map_err(|_| {
                PlexError::Config(format!("{name} {value:?} is not a valid header value"))
            })?;
            headers.insert(HeaderName::from_static(name), value);
        }
        headers.insert(
            HeaderName::from_static("x-plex-platform"),
            HeaderValue::from_static("Web"),
        );
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .default_headers(headers)
            .user_agent(format!("{}/{}", config.product, config.version))
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            // X-Plex-Token is not a header reqwest strips on a cross-host redirect: follow none.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PlexError::Config(format!("HTTP client: {}", root_cause(&e))))?;
        let mut base = config.tv_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let shown_url = config.tv_url.as_str().trim_end_matches('/').to_owned();
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                base,
                shown_url,
            }),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &PlexClientConfig {
        &self.inner.config
    }

    /// Password sign-in (`POST /api/v2/users/signin`). Pass the two-factor `code` when plex.tv asked for
    /// one ([`PlexError::TwoFactorRequired`]).
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<PlexAccount, PlexError> {
        let mut form = vec![
            ("login", login),
            ("password", password),
            ("rememberMe", "true"),
        ];
        if let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) {
            form.push(("verificationCode", code));
        }
        let call = Call {
            method: Method::POST,
            path: "api/v2/users/signin",
            format: Format::Json,
            token: None,
            form: Some(&form),
        };
        let answer = self.send(call).await?;
        if !answer.status.is_success() {
            return Err(self.failure(&answer, Kind::SignIn));
        }
        self.parse_account(&answer, None)
    }

    /// Creates a strong PIN for the browser flow (`POST /api/v2/pins?strong=true`).
    pub async fn create_pin(&self) -> Result<Pin, PlexError> {
        let call = Call {
            method: Method::POST,
            path: "api/v2/pins?strong=true",
            format: Format::Json,
            token: None,
            form: Some(&[]),
        };
        let answer = self.send(call).await?;
        if !answer.status.is_success() {
            return Err(self.failure(&answer, Kind::Pin));
        }
        let pin: PinJson = self.json(&answer, "the new PIN")?;
        let (Some(id), Some(code)) = (json_int(&pin.id), pin.code.filter(|c| !c.is_empty())) else {
            return Err(self.unexpected(&answer, "the new PIN has no id or code".into()));
        };
        let expires_in = Duration::from_secs(json_int(&pin.expires_in).unwrap_or(0).max(0) as u64);
        Ok(Pin {
            id,
            code,
            expires_in,
            expires_at: SystemTime::now() + expires_in,
        })
    }

    /// Polls a PIN (`GET /api/v2/pins/{id}`, no token). plex.tv answers 404 for a PIN that expired, never
    /// existed, or was created under another client identifier: all three are [`PinState::Expired`].
    pub async fn check_pin(&self, pin_id: i64) -> Result<PinState, PlexError> {
        let path = format!("api/v2/pins/{pin_id}");
        let call = Call {
            method: Method::GET,
            path: &path,
            format: Format::Json,
            token: None,
            form: None,
        };
        let answer = self.send(call).await?;
        if matches!(answer.status, StatusCode::NOT_FOUND | StatusCode::GONE) {
            return Ok(PinState::Expired);
        }
        if !answer.status.is_success() {
            return Err(self.failure(&answer, Kind::Pin));
        }
        let pin: PinJson = self.json(&answer, "the PIN")?;
        if let Some(token) = pin.auth_token.filter(|t| !t.is_empty()) {
            return Ok(PinState::Approved(PlexToken::from(token)));
        }
        match json_int(&pin.expires_in) {
            Some(left) if left <= 0 => Ok(PinState::Expired),
            _ => Ok(PinState::Pending),
        }
    }

    /// The auth-app URL to send the browser to (spec §3.2):
    /// `{auth_base}#?clientID=…&code=…&context[device][product]=…&context[device][version]=…[&forwardUrl=…]`,
    /// each key and value encoded like JavaScript's `encodeURIComponent`.
    pub fn auth_app_url(&self, auth_base: &Url, pin: &Pin, forward_url: Option<&str>) -> String {
        let config = &self.inner.config;
        let mut params = vec![
            ("clientID", config.client_identifier.as_str()),
            ("code", pin.code.as_str()),
            ("context[device][product]", config.product.as_str()),
            ("context[device][version]", config.version.as_str()),
            ("context[device][platform]", "Web"),
            ("context[device][deviceName]", config.product.as_str()),
        ];
        if let Some(forward) = forward_url {
            params.push(("forwardUrl", forward));
        }
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect();
        let mut base = auth_base.clone();
        base.set_fragment(None);
        format!("{base}#?{}", query.join("&"))
    }

    /// The account behind a token (`GET /api/v2/user`). [`PlexError::TokenInvalid`] when plex.tv refuses it.
    pub async fn account(&self, token: &PlexToken) -> Result<PlexAccount, PlexError> {
        let answer = self.get("api/v2/user", Format::Json, token).await?;
        self.parse_account(&answer, Some(token))
    }

    /// The owner's friends and Plex Home members with their shares (`GET /api/users`, XML).
    pub async fn friends(&self, admin_token: &PlexToken) -> Result<Vec<PlexFriend>, PlexError> {
        let answer = self.get("api/users", Format::Xml, admin_token).await?;
        xml::parse_friends(self.text(&answer)?)
            .map_err(|detail| self.unexpected(&answer, format!("{}: {detail}", answer.request)))
    }

    /// The Plex Media Servers the token's account can see, owned and shared
    /// (`GET /api/v2/resources?includeHttps=1`, JSON; devices that do not provide `server` are left out).
    pub async fn resources(&self, admin_token: &PlexToken) -> Result<Vec<PlexServer>, PlexError> {
        let answer = self
            .get("api/v2/resources?includeHttps=1", Format::Json, admin_token)
            .await?;
        let devices: Value = self.json(&answer, "the resources list")?;
        let Value::Array(devices) = devices else {
            return Err(self.unexpected(&answer, "the resources list is not a JSON array".into()));
        };
        Ok(devices.into_iter().filter_map(resource_to_server).collect())
    }

    /// The same list from the older `GET /pms/servers` (XML), which Organizr's "Get Plex Machine" uses.
    pub async fn pms_servers(&self, admin_token: &PlexToken) -> Result<Vec<PlexServer>, PlexError> {
        let answer = self.get("pms/servers", Format::Xml, admin_token).await?;
        xml::parse_pms_servers(self.text(&answer)?)
            .map_err(|detail| self.unexpected(&answer, format!("{}: {detail}", answer.request)))
    }

    /// [`Self::resources`], falling back to [`Self::pms_servers`] when plex.tv answers it with something
    /// unusable. A refused token or an unreachable plex.tv is returned as is.
    pub async fn servers(&self, admin_token: &PlexToken) -> Result<Vec<PlexServer>, PlexError> {
        match self.resources(admin_token).await {
            Err(PlexError::Unexpected { detail, .. }) => {
                tracing::info!(%detail, "plex.tv resources list unusable; trying /pms/servers");
                self.pms_servers(admin_token).await
            }
            other => other,
        }
    }

    async fn get(
        &self,
        path: &str,
        format: Format,
        token: &PlexToken,
    ) -> Result<Answer, PlexError> {
        let call = Call {
            method: Method::GET,
            path,
            format,
            token: Some(token),
            form: None,
        };
        let answer = self.send(call).await?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(self.failure(&answer, Kind::Token))
        }
    }

    async fn send(&self, call: Call<'_>) -> Result<Answer, PlexError> {
        let url =
            self.inner.base.join(call.path).map_err(|e| {
                PlexError::Config(format!("plex.tv URL {}: {e}", self.inner.shown_url))
            })?;
        let request = format!("{} {}", call.method, url.path());
        let accept = match call.format {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        };
        let mut builder = self
            .inner
            .http
            .request(call.method, url)
            .header(ACCEPT, accept);
        if let Some(token) = call.token {
            let mut value =
                HeaderValue::from_str(token.expose()).map_err(|_| PlexError::TokenInvalid)?;
            value.set_sensitive(true);
            builder = builder.header("x-plex-token", value);
        }
        if let Some(form) = call.form {
            builder = builder.form(form);
        }
        let started = Instant::now();
        let mut response = builder.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                let detail = format!(
                    "{request}: the answer is larger than {} MiB",
                    MAX_BODY_BYTES >> 20
                );
                return Err(PlexError::Unexpected {
                    url: self.shown_url(),
                    status: Some(status.as_u16()),
                    detail,
                });
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(%request, status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "plex.tv");
        Ok(Answer {
            status,
            body,
            request,
        })
    }

    fn transport_error(&self, error: &reqwest::Error) -> PlexError {
        let config = &self.inner.config;
        if error.is_timeout() {
            let after = if error.is_connect() {
                config.connect_timeout
            } else {
                config.timeout
            };
            return PlexError::Timeout {
                url: self.shown_url(),
                after,
            };
        }
        PlexError::Unreachable {
            url: self.shown_url(),
            reason: root_cause(error),
        }
    }

    /// Turns a non-2xx answer into the error a person can act on.
    fn failure(&self, answer: &Answer, kind: Kind) -> PlexError {
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

    fn unexpected(&self, answer: &Answer, detail: String) -> PlexError {
        PlexError::Unexpected {
            url: self.shown_url(),
            status: Some(answer.status.as_u16()),
            detail,
        }
    }

    fn shown_url(&self) -> String {
        self.inner.shown_url.clone()
    }

    fn text<'a>(&self, answer: &'a Answer) -> Result<&'a str, PlexError> {
        std::str::from_utf8(&answer.body).map_err(|_| {
            self.unexpected(
                answer,
                format!("{}: the answer is not UTF-8 text", answer.request),
            )
        })
    }

    fn json<T: DeserializeOwned>(&self, answer: &Answer, what: &str) -> Result<T, PlexError> {
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
    fn parse_account(
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
struct AccountJson {
    id: Option<Value>,
    uuid: Option<String>,
    username: Option<String>,
    title: Option<String>,
    email: Option<String>,
    thumb: Option<String>,
    auth_token: Option<String>,
    #[serde(rename = "authentication_token")]
    authentication_token: Option<String>,
    two_factor_enabled: Option<Value>,
    confirmed: Option<Value>,
    home: Option<Value>,
    home_admin: Option<Value>,
    restricted: Option<Value>,
    guest: Option<Value>,
    protected: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PinJson {
    id: Option<Value>,
    code: Option<String>,
    expires_in: Option<Value>,
    auth_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceJson {
    name: Option<String>,
    client_identifier: Option<String>,
    provides: Option<String>,
    owned: Option<Value>,
    product_version: Option<String>,
    source_title: Option<String>,
    public_address: Option<String>,
    access_token: Option<String>,
    presence: Option<Value>,
    #[serde(default)]
    connections: Vec<Value>,
}

/// One resource → a server, or `None` for clients/players and entries too odd to use.
fn resource_to_server(device: Value) -> Option<PlexServer> {
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
fn json_flag(value: &Option<Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn json_int(value: &Option<Value>) -> Option<i64> {
    match value {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `{"errors":[{code,message}]}`, `{"error":"…"}`, or the XML forms.
fn api_errors(body: &[u8]) -> Vec<ApiError> {
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
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
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
fn encode_component(input: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// spec §4.2, trimmed of fields nobody reads but keeping every type plex.tv uses.
    const USER_JSON: &str = r#"{
      "id": 1000001, "uuid": "a1b2c3d4e5f60718", "username": "adminuser", "title": "adminuser",
      "email": "admin@example.com", "friendlyName": "Admin", "locale": null, "confirmed": true,
      "joinedAt": 1546300800, "emailOnlyAuth": false, "hasPassword": true, "protected": false,
      "thumb": "https://plex.tv/users/a1b2c3d4e5f60718/avatar?c=1700000000",
      "authToken": "ADMINTOKENxxxxxxxxx01", "mailingListStatus": "active", "mailingListActive": true,
      "scrobbleTypes": "", "country": "US",
      "subscription": {"active": true, "subscribedAt": "2019-01-01T00:00:00Z", "status": "Active",
                       "paymentService": "", "plan": "lifetime", "features": ["webhooks"]},
      "subscriptionDescription": null, "restricted": false, "anonymous": null, "home": true, "guest": false,
      "homeSize": 2, "homeAdmin": true, "maxHomeSize": 15, "rememberExpiresAt": 1767225600,
      "profile": {"autoSelectAudio": true, "defaultAudioLanguage": "en"},
      "entitlements": ["all"], "roles": ["plexpass"], "services": [], "adsConsent": null,
      "experimentalFeatures": false, "twoFactorEnabled": false, "backupCodesCreated": false,
      "pastSubscriptions": [], "trials": []
    }"#;

    /// spec §2.1 (legacy wrapper, both token keys).
    const LEGACY_JSON: &str = r#"{"user": {"id": 2000002, "uuid": "b7e4c2a19f3d5e60", "email": "friend@example.com",
      "joined_at": "2019-06-01 12:00:00 UTC", "username": "friendly", "title": "friendly",
      "thumb": "https://plex.tv/users/b7e4c2a19f3d5e60/avatar?c=1700000000", "hasPassword": true,
      "authToken": "FRIENDTOKENxxxxxxxx02", "authentication_token": "FRIENDTOKENxxxxxxxx02",
      "subscription": {"active": false, "status": "Inactive", "plan": null, "features": []},
      "roles": {"roles": []}, "entitlements": [], "confirmedAt": "2019-06-01 12:05:00 UTC", "forumId": null}}"#;

    /// spec §6.2 plus a client device that must be left out.
    const RESOURCES_JSON: &str = r#"[
      {"name": "HomeServer", "product": "Plex Media Server", "productVersion": "1.41.3.9314-a0bfb8370",
       "platform": "Linux", "platformVersion": "6.1.0-18-amd64", "device": "PC",
       "clientIdentifier": "9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d",
       "createdAt": "2020-09-13T12:26:40Z", "lastSeenAt": "2023-11-14T22:13:20Z",
       "provides": "server", "ownerId": null, "sourceTitle": null, "publicAddress": "203.0.113.10",
       "accessToken": "ADMINTOKENxxxxxxxxx01", "owned": true, "home": false, "synced": false, "relay": true,
       "presence": true, "httpsRequired": false, "publicAddressMatches": true, "dnsRebindingProtection": false,
       "natLoopbackSupported": true,
       "connections": [{"protocol": "https", "address": "192.168.1.10", "port": 32400,
         "uri": "https://192-168-1-10.0123456789abcdef0123456789abcdef.plex.direct:32400",
         "local": true, "relay": false, "IPv6": false}]},
      {"name": "Chrome", "product": "Plex Web", "clientIdentifier": "webclientid123",
       "provides": "client,player,pubsub-player", "owned": true, "connections": []},
      {"name": "Odd", "clientIdentifier": 12, "provides": "server"}
    ]"#;

    fn client() -> PlexClient {
        PlexClient::new(PlexClientConfig::new(
            "5f0c0b8e-3f55-4a39-9a7a-2f4d1c6d9e11",
        ))
        .unwrap()
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.as_bytes().to_vec(),
            request: "GET /api/v2/user".into(),
        }
    }

    #[test]
    fn parses_the_v2_user() {
        let account = client()
            .parse_account(&answer(200, USER_JSON), None)
            .unwrap();
        assert_eq!(account.id, 1000001);
        assert_eq!(account.uuid, "a1b2c3d4e5f60718");
        assert_eq!(account.username, "adminuser");
        assert_eq!(account.email.as_deref(), Some("admin@example.com"));
        assert_eq!(account.token.expose(), "ADMINTOKENxxxxxxxxx01");
        assert!(
            account.home
                && account.home_admin
                && !account.restricted
                && !account.two_factor_enabled
        );
        assert!(!account.email_unconfirmed, "\"confirmed\": true");
        let unconfirmed = USER_JSON.replace("\"confirmed\": true", "\"confirmed\": false");
        let account = client()
            .parse_account(&answer(200, &unconfirmed), None)
            .unwrap();
        assert!(account.email_unconfirmed);
    }

    #[test]
    fn parses_the_legacy_wrapper_and_managed_users() {
        let account = client()
            .parse_account(&answer(201, LEGACY_JSON), None)
            .unwrap();
        assert_eq!(
            (account.id, account.username.as_str()),
            (2000002, "friendly")
        );
        let managed = r#"{"id": 2000005, "uuid": "e1f2a3b4c5d6e7f8", "username": "", "title": "Kids",
            "email": null, "thumb": "", "restricted": 1, "home": "1", "twoFactorEnabled": null}"#;
        let known = PlexToken::new("KIDSTOKEN");
        let account = client()
            .parse_account(&answer(200, managed), Some(&known))
            .unwrap();
        assert_eq!(
            (
                account.username.as_str(),
                account.email.as_deref(),
                account.thumb.as_deref()
            ),
            ("", None, None)
        );
        assert_eq!(account.display_name(), "Kids");
        assert!(account.restricted && account.home);
        assert_eq!(account.token, known);
    }

    #[test]
    fn malformed_accounts_are_unexpected_and_do_not_echo_values() {
        for body in [
            "",
            "null",
            "[]",
            "{\"id\": \"abc\"}",
            "<user id=\"1\"/>",
            "{\"id\": 1, \"authToken\": 5}",
        ] {
            let err = client()
                .parse_account(&answer(200, body), None)
                .unwrap_err();
            assert_eq!(err.code(), "plex_unexpected", "{body}");
        }
        let err = client()
            .parse_account(
                &answer(200, r#"{"id": 1, "username": {"x": "SECRETVALUE"}}"#),
                None,
            )
            .unwrap_err();
        assert!(!err.to_string().contains("SECRETVALUE"), "{err}");
    }

    #[test]
    fn resources_keep_servers_only() {
        let Value::Array(devices) = serde_json::from_str(RESOURCES_JSON).unwrap() else {
            panic!()
        };
        let servers: Vec<_> = devices.into_iter().filter_map(resource_to_server).collect();
        assert_eq!(servers.len(), 1);
        let home = &servers[0];
        assert_eq!(
            home.machine_identifier,
            "9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d"
        );
        assert!(home.owned);
        assert_eq!(home.presence, Some(true));
        assert_eq!(home.source_title, None);
        assert!(home.connections[0].local);
    }

    #[test]
    fn sign_in_errors_map_to_what_a_person_can_do() {
        let c = client();
        let v2 = |code: u16, msg: &str| {
            format!(r#"{{"errors":[{{"code":{code},"message":"{msg}","status":401}}]}}"#)
        };
        let cases = [
            (401, v2(1001, "User could not be authenticated"), "bad_credentials"),
            (401, v2(1029, "Please enter the verification code"), "two_factor_required"),
            (401, v2(1028, "Invalid verification code"), "wrong_two_factor_code"),
            (401, v2(1031, "This IP appears to be having trouble"), "plex_rate_limited"),
            (400, v2(1000, "X-Plex-Client-Identifier is missing"), "plex_unexpected"),
            (401, r#"<errors><error code="1029" message="Please enter the verification code" status="401"/></errors>"#.into(), "two_factor_required"),
            (401, "Please enter the verification code".into(), "two_factor_required"),
            (401, "nope".into(), "bad_credentials"),
            (401, r#"{"error":"Please enter the verification code"}"#.into(), "two_factor_required"),
            (500, "<html>oops</html>".into(), "plex_unexpected"),
            (429, String::new(), "plex_rate_limited"),
        ];
        for (status, body, code) in cases {
            assert_eq!(
                c.failure(&answer(status, &body), Kind::SignIn).code(),
                code,
                "{status} {body}"
            );
        }
        assert_eq!(
            c.failure(&answer(401, &v2(1001, "x")), Kind::Token).code(),
            "plex_token_invalid"
        );
        assert_eq!(
            c.failure(
                &answer(
                    401,
                    "<errors><error>Invalid authentication token.</error></errors>"
                ),
                Kind::Token
            )
            .code(),
            "plex_token_invalid"
        );
        assert_eq!(
            c.failure(&answer(404, ""), Kind::Token).code(),
            "plex_unexpected"
        );
        let err = c.failure(&answer(503, ""), Kind::Pin);
        assert!(
            err.to_string()
                .contains("plex.tv at https://plex.tv gave an unexpected answer (HTTP 503)"),
            "{err}"
        );
    }

    #[test]
    fn auth_app_url_is_encoded_like_the_browser_would() {
        let pin = Pin {
            id: 1,
            code: "k3x9q2m7v8p1w4r6t0y5u2i8o".into(),
            expires_in: Duration::ZERO,
            expires_at: SystemTime::now(),
        };
        let base = Url::parse("https://app.plex.tv/auth").unwrap();
        let url = client().auth_app_url(
            &base,
            &pin,
            Some("https://usher.example.com/plex/return?pin=1&x=a b"),
        );
        let expected_start = "https://app.plex.tv/auth#?clientID=5f0c0b8e-3f55-4a39-9a7a-2f4d1c6d9e11\
            &code=k3x9q2m7v8p1w4r6t0y5u2i8o&context%5Bdevice%5D%5Bproduct%5D=Usher&context%5Bdevice%5D%5Bversion%5D=";
        assert!(url.starts_with(expected_start), "{url}");
        assert!(
            url.ends_with(
                "&forwardUrl=https%3A%2F%2Fusher.example.com%2Fplex%2Freturn%3Fpin%3D1%26x%3Da%20b"
            ),
            "{url}"
        );
        let no_forward = client().auth_app_url(
            &Url::parse("http://127.0.0.1:9/auth#old").unwrap(),
            &pin,
            None,
        );
        assert!(
            no_forward.starts_with("http://127.0.0.1:9/auth#?clientID="),
            "{no_forward}"
        );
        assert!(!no_forward.contains("forwardUrl") && !no_forward.contains("old"));
    }

    #[test]
    fn config_is_checked() {
        let mut config = PlexClientConfig::new("");
        assert_eq!(
            PlexClient::new(config.clone()).unwrap_err().code(),
            "plex_config"
        );
        config.client_identifier = "bad\nid".into();
        assert_eq!(
            PlexClient::new(config.clone()).unwrap_err().code(),
            "plex_config"
        );
        config.client_identifier = "ok".into();
        config.tv_url = Url::parse("ftp://plex.tv").unwrap();
        assert_eq!(PlexClient::new(config).unwrap_err().code(), "plex_config");
    }

    #[test]
    fn pin_and_error_bodies_parse() {
        let pin: PinJson = serde_json::from_str(
            r#"{"id": 1894323456, "code": "k3x9q2m7v8p1w4r6t0y5u2i8o", "product": "Organizr", "trusted": false,
            "qr": "https://plex.tv/api/v2/pins/qr/k3x9q2m7v8p1w4r6t0y5u2i8o",
            "clientIdentifier": "5f0c0b8e-3f55-4a39-9a7a-2f4d1c6d9e11",
            "location": {"code": "US", "european_union_member": false, "coordinates": "39.8, -89.6"},
            "expiresIn": 1800, "createdAt": "2026-01-10T17:03:05Z", "expiresAt": "2026-01-10T17:33:05Z",
            "authToken": null, "newRegistration": null}"#,
        )
        .unwrap();
        assert_eq!(json_int(&pin.id), Some(1894323456));
        assert_eq!(json_int(&pin.expires_in), Some(1800));
        assert_eq!(pin.auth_token, None);
        assert_eq!(
            api_errors(b"{\"errors\":[{\"code\":1020,\"message\":\"Code not found or expired\"}]}")
                [0]
            .code,
            Some(1020)
        );
        assert!(api_errors(b"\xff\xfe").is_empty());
    }
}
