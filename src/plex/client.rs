//! The HTTP side of the plex.tv client: one reqwest client (rustls, connect + total timeouts), the
//! X-Plex-* identification headers on every request, and the mapping of plex.tv's answers to
//! [`PlexError`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use super::answers::{
    encode_component, json_int, pin_lifetime, resource_to_server, root_cause, PinJson,
};
use super::xml;
use super::{Pin, PinState, PlexAccount, PlexError, PlexFriend, PlexServer, PlexToken};

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
    /// Where each call's latency is recorded (`usher_plex_upstream_duration_seconds`).
    pub timer: crate::metrics::UpstreamTimer,
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
            timer: crate::metrics::UpstreamTimer::default(),
        }
    }
}

/// A plex.tv client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct PlexClient {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) config: PlexClientConfig,
    /// `tv_url` with a trailing slash, so relative joins keep any path prefix.
    pub(super) base: Url,
    /// `tv_url` as people write it, for messages.
    pub(super) shown_url: String,
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
pub(super) enum Kind {
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

pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
    /// `METHOD /path`, for messages.
    pub(super) request: String,
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
        let expires_in = pin_lifetime(&pin.expires_in);
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
        let sent = builder.send().await;
        self.inner.config.timer.observe(started);
        let mut response = sent.map_err(|e| self.transport_error(&e))?;
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

    pub(super) fn shown_url(&self) -> String {
        self.inner.shown_url.clone()
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
