//! What every app module shares to reach its app: the HTTP client, URL joining, and the mapping
//! of transport failures and odd answers to [`SsoError`]s.

use std::time::Duration;

use url::Url;

use super::SsoError;

/// The HTTP client every app module uses: rustls, no redirects followed (a redirect to a login
/// page is an answer, not a success), no cookie jar (each sign-in reads its own cookies).
pub fn http_client(connect_timeout: Duration, total_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(total_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Usher/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a rustls client builds")
}

/// Parses an app's configured base URL (`http(s)://host[:port][/path]`), naming the setting.
pub fn parse_base_url(app: &'static str, text: &str) -> Result<Url, SsoError> {
    let url = Url::parse(text.trim()).map_err(|e| SsoError::Config {
        app,
        reason: format!("{text:?} is not a URL: {e}"),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        // The settings refuse these; a URL with credentials must never reach a log line.
        return Err(SsoError::Config {
            app,
            reason: "its URL carries a user name or password; use the API key setting".into(),
        });
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(SsoError::Config {
            app,
            reason: format!("{text:?} must be an http:// or https:// URL with a host"),
        });
    }
    Ok(url)
}

/// `base` + `path` with exactly one slash between them (`http://h/tautulli` + `/auth/signin`).
pub fn endpoint(base: &Url, path: &str) -> String {
    format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Turns a transport error into the app's typed error (`timeout` = the client's total timeout).
pub fn transport_error(
    app: &'static str,
    url: &Url,
    e: &reqwest::Error,
    timeout: Duration,
) -> SsoError {
    let url = url.to_string();
    if e.is_timeout() {
        SsoError::Timeout {
            app,
            url,
            seconds: timeout.as_secs().max(1),
        }
    } else {
        SsoError::Unreachable {
            app,
            url,
            reason: if e.is_connect() {
                "connection refused or host not found".into()
            } else {
                "the connection failed".into()
            },
        }
    }
}

/// The cookies of a response, parsed (`Set-Cookie` lines that do not parse are skipped).
pub fn response_cookies(resp: &reqwest::Response) -> Vec<cookie::Cookie<'static>> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| cookie::Cookie::parse(v.to_string()).ok())
        .collect()
}

/// Seconds to wait, from a `Retry-After` header in seconds (dates are rare; they count as 60).
pub fn retry_after(resp: &reqwest::Response) -> u64 {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse().unwrap_or(60))
        .unwrap_or(60)
}

/// One app instance as Usher reaches it: name, server-side base URL and the HTTP client, with
/// the error mapping every module shares.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub app: &'static str,
    pub base: Url,
    pub http: reqwest::Client,
    pub timeout: Duration,
}

impl Upstream {
    /// An upstream with its own client (`timeout` = connect and total timeout).
    pub fn new(app: &'static str, base: &str, timeout: Duration) -> Result<Upstream, SsoError> {
        Ok(Upstream {
            app,
            base: parse_base_url(app, base)?,
            http: http_client(timeout, timeout),
            timeout,
        })
    }

    /// The full URL of `path` on this instance.
    pub fn url(&self, path: &str) -> String {
        endpoint(&self.base, path)
    }

    /// Sends a request, mapping transport failures to typed errors.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, SsoError> {
        req.send()
            .await
            .map_err(|e| transport_error(self.app, &self.base, &e, self.timeout))
    }

    /// The JSON body of a response, or a typed "unexpected answer".
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        resp: reqwest::Response,
    ) -> Result<T, SsoError> {
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error(self.app, &self.base, &e, self.timeout))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.unexpected(format!("not the JSON expected: {e}")))
    }

    /// "answered unexpectedly" with a detail.
    pub fn unexpected(&self, detail: impl Into<String>) -> SsoError {
        SsoError::Unexpected {
            app: self.app,
            url: self.base.to_string(),
            detail: detail.into(),
        }
    }

    /// The status as an unexpected answer.
    pub fn unexpected_status(&self, status: reqwest::StatusCode) -> SsoError {
        self.unexpected(format!("HTTP {status}"))
    }

    /// "refused the sign-in of `user`".
    pub fn rejected(&self, user: &str) -> SsoError {
        SsoError::Rejected {
            app: self.app,
            url: self.base.to_string(),
            user: user.to_string(),
        }
    }

    /// "rejected the API key".
    pub fn bad_api_key(&self) -> SsoError {
        SsoError::BadApiKey {
            app: self.app,
            url: self.base.to_string(),
        }
    }

    /// The URL's path, as the browser-facing cookie path when none is configured (`/` when empty).
    pub fn path(&self) -> String {
        let p = self.base.path().trim_end_matches('/');
        if p.is_empty() {
            "/".into()
        } else {
            p.into()
        }
    }
}

/// Epoch seconds of a UTC ISO-8601 time such as `2027-01-10T17:03:05Z` (fractions ignored).
pub fn parse_utc(text: &str) -> Option<i64> {
    let t = text.trim().trim_end_matches('Z');
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split(['.', '+']).next()?;
    let mut hms = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (hms.next()??, hms.next()??, hms.next()??);
    // Years past 9999 overflow the arithmetic below (and no app means them); found by fuzzing.
    if !(1..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&min)
        || !(0..=60).contains(&s)
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_parse() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2027-01-10T17:03:05Z"), Some(1_799_600_585));
        assert_eq!(parse_utc("2000-02-29T12:00:00.1234567Z"), Some(951_825_600));
        assert_eq!(parse_utc("2027-13-10T17:03:05Z"), None);
        assert_eq!(parse_utc("yesterday"), None);
    }

    #[test]
    fn absurd_years_are_refused_not_overflowed() {
        // An Ombi answer the fuzzer wrote (fuzz/ target `sso`): this multiplied past i64::MAX.
        assert_eq!(
            parse_utc("22222222222222026-12-31T23:59:59.1234567+00:00"),
            None
        );
        assert_eq!(parse_utc("10000-01-01T00:00:00Z"), None);
        assert_eq!(parse_utc("-5-01-01T00:00:00Z"), None);
        assert_eq!(parse_utc("9999-12-31T23:59:59Z"), Some(253_402_300_799));
    }

    #[test]
    fn endpoints_join_with_one_slash() {
        let base = Url::parse("http://h:8181/tautulli/").unwrap();
        assert_eq!(
            endpoint(&base, "/auth/signin"),
            "http://h:8181/tautulli/auth/signin"
        );
        let base = Url::parse("http://h:8181").unwrap();
        assert_eq!(
            endpoint(&base, "api/v1/Token"),
            "http://h:8181/api/v1/Token"
        );
    }
}
