//! Cross-site request protection for the pages and the JSON API (the proxy-auth routes never
//! pass through it). A state-changing request from a browser must come from Usher's own pages:
//! the browser's `Sec-Fetch-Site` says so, or — from browsers too old to send it — its
//! `Origin` names this server. A request with neither header is not from a browser (curl, the
//! CLI, scripts) and passes. The same rule as Go's `net/http.CrossOriginProtection`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use url::Url;

use super::client_ip::is_trusted;
use super::error::ApiError;
use super::extract::peer_in;
use crate::core::Core;

static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Longest header value written to the log when a request is refused.
const LOGGED_VALUE_BYTES: usize = 200;

/// What, besides the request's `Host`, counts as this server's own address.
pub struct OwnAddress<'a> {
    /// The socket peer: its `X-Forwarded-Host` counts only when it is a trusted proxy.
    pub peer: IpAddr,
    /// The `trusted_proxies` setting.
    pub trusted_proxies: &'a [IpNet],
    /// The `public_url` setting.
    pub public_url: Option<&'a Url>,
}

/// Why a request was refused, with the header value that decided it (for the log).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal<'h> {
    /// `Sec-Fetch-Site` other than `same-origin` or `none`, or sent twice.
    OtherSite(&'h HeaderValue),
    /// `Origin` that is `null`, not an http(s) origin, or sent twice.
    BadOrigin(&'h HeaderValue),
    /// `Origin` naming another address than this server's.
    ForeignOrigin(&'h HeaderValue),
}

impl Refusal<'_> {
    fn header_and_value(&self) -> (&'static str, &HeaderValue) {
        match self {
            Refusal::OtherSite(v) => ("sec-fetch-site", v),
            Refusal::BadOrigin(v) | Refusal::ForeignOrigin(v) => ("origin", v),
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Refusal::OtherSite(_) => {
                "cross-site request refused: the browser says it came from another site; \
                 Usher accepts changes only from its own pages"
            }
            Refusal::BadOrigin(_) => {
                "cross-site request refused: its Origin is null or malformed; \
                 Usher accepts changes only from its own pages"
            }
            Refusal::ForeignOrigin(_) => {
                "cross-site request refused: its Origin is not this server's address \
                 (behind a proxy under another name, set public_url)"
            }
        }
    }
}

/// True for the methods that must not change anything (they always pass).
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Decides one request: `authority` is the request target's (HTTP/2 sends no `Host` header).
pub fn check<'h>(
    method: &Method,
    headers: &'h HeaderMap,
    authority: Option<&str>,
    own: &OwnAddress<'_>,
) -> Result<(), Refusal<'h>> {
    if is_safe(method) {
        return Ok(());
    }
    match one(headers, &SEC_FETCH_SITE) {
        Some(Ok(v)) if v == "same-origin" || v == "none" => return Ok(()),
        Some(Ok(v) | Err(v)) => return Err(Refusal::OtherSite(v)),
        None => {}
    }
    let value = match one(headers, &header::ORIGIN) {
        None => return Ok(()),
        Some(Ok(v)) => v,
        Some(Err(v)) => return Err(Refusal::BadOrigin(v)),
    };
    let Some(origin) = value.to_str().ok().and_then(Origin::parse) else {
        return Err(Refusal::BadOrigin(value));
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(authority);
    if host.is_some_and(|h| origin.is_at(h)) || origin.is_public_url(own.public_url) {
        return Ok(());
    }
    if let Some(Ok(forwarded)) = one(headers, &X_FORWARDED_HOST) {
        let forwarded = forwarded.to_str().unwrap_or_default();
        if is_trusted(own.peer, own.trusted_proxies) && origin.is_at(forwarded) {
            return Ok(());
        }
    }
    Err(Refusal::ForeignOrigin(value))
}

/// The only value of a header: `None` when absent, `Err(first)` when sent more than once.
fn one<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Option<Result<&'h HeaderValue, &'h HeaderValue>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    Some(match values.next() {
        None => Ok(first),
        Some(_) => Err(first),
    })
}

/// An `Origin` header reduced to what is compared: host and port (the scheme's default when
/// none is written).
#[derive(Debug, PartialEq, Eq)]
struct Origin<'a> {
    host: &'a str,
    port: u16,
    /// The scheme's default port: what a `Host` without a port means.
    default_port: u16,
}

impl<'a> Origin<'a> {
    /// `http(s)://host[:port]` and nothing else (`null`, paths, user info are refused).
    fn parse(value: &'a str) -> Option<Origin<'a>> {
        let (scheme, authority) = value.split_once("://")?;
        let default_port = if scheme.eq_ignore_ascii_case("https") {
            443
        } else if scheme.eq_ignore_ascii_case("http") {
            80
        } else {
            return None;
        };
        let (host, port) = split_authority(authority)?;
        Some(Origin {
            host,
            port: port.unwrap_or(default_port),
            default_port,
        })
    }

    /// Whether a `Host`-style `host[:port]` names this origin (no port: the origin's default).
    fn is_at(&self, authority: &str) -> bool {
        split_authority(authority).is_some_and(|(host, port)| {
            host.eq_ignore_ascii_case(self.host) && port.unwrap_or(self.default_port) == self.port
        })
    }

    fn is_public_url(&self, public_url: Option<&Url>) -> bool {
        public_url.is_some_and(|u| {
            u.host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(self.host))
                && u.port_or_known_default() == Some(self.port)
        })
    }
}

/// Splits `host[:port]` (IPv6 in brackets); `None` for anything that is not a bare authority.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let odd = |b: u8| b <= b' ' || b >= 0x7f || matches!(b, b'/' | b'\\' | b'?' | b'#' | b'@');
    if authority.bytes().any(odd) {
        return None;
    }
    let split_at = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, rest) = authority.split_at(split_at);
    if host.is_empty() || host == "[]" {
        return None;
    }
    let port = match rest {
        "" => None,
        _ => {
            let digits = rest.strip_prefix(':')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse().ok()?)
        }
    };
    Some((host, port))
}

/// The middleware: refuses a cross-site state-changing request with a JSON 403.
pub async fn protect(State(core): State<Arc<Core>>, req: Request, next: Next) -> Response {
    if is_safe(req.method()) {
        return next.run(req).await;
    }
    let refused = {
        let settings = core.settings();
        let own = OwnAddress {
            peer: peer_in(req.extensions()),
            trusted_proxies: &settings.trusted_proxies,
            public_url: settings.public_url.as_ref(),
        };
        let authority = req.uri().authority().map(|a| a.as_str());
        check(req.method(), req.headers(), authority, &own)
            .err()
            .map(|why| refuse(&req, &why))
    };
    match refused {
        Some(response) => response,
        None => next.run(req).await,
    }
}

fn refuse(req: &Request, why: &Refusal<'_>) -> Response {
    let (header, value) = why.header_and_value();
    let bytes = value.as_bytes();
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(LOGGED_VALUE_BYTES)]);
    tracing::warn!(
        method = %req.method(),
        path = req.uri().path(),
        header,
        value = ?shown,
        "cross-site request refused"
    );
    if req.uri().path().starts_with("/api/") {
        return ApiError::new(StatusCode::FORBIDDEN, "cross_origin_refused", why.message())
            .into_response();
    }
    // A sign-in, setup or sign-out form: a page people can read, not JSON.
    crate::http::views::message(
        StatusCode::FORBIDDEN,
        "Request refused",
        &format!(
            "{} Open Usher from its own address and try again.",
            crate::http::views::sentence(why.message())
        ),
        Some("/"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    fn loopback_trusted() -> Vec<IpNet> {
        vec!["127.0.0.0/8".parse().unwrap()]
    }

    /// The decision for a POST from `peer` with `public_url` unset, `Ok` → true.
    fn post_passes(pairs: &[(&'static str, &'static str)], peer: &str) -> bool {
        let proxies = loopback_trusted();
        let own = OwnAddress {
            peer: peer.parse().unwrap(),
            trusted_proxies: &proxies,
            public_url: None,
        };
        check(&Method::POST, &headers(pairs), None, &own).is_ok()
    }

    const LOCAL: &str = "127.0.0.1";
    const REMOTE: &str = "203.0.113.9";

    #[test]
    fn safe_methods_always_pass() {
        let h = headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ]);
        let own = OwnAddress {
            peer: REMOTE.parse().unwrap(),
            trusted_proxies: &[],
            public_url: None,
        };
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(check(&m, &h, None, &own).is_ok(), "{m}");
        }
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(check(&m, &h, None, &own).is_err(), "{m}");
        }
    }

    #[test]
    fn sec_fetch_site_decides_when_present() {
        assert!(post_passes(&[("sec-fetch-site", "same-origin")], REMOTE));
        assert!(post_passes(&[("sec-fetch-site", "none")], REMOTE));
        for site in ["same-site", "cross-site", "Same-Origin", "", "junk"] {
            let h = headers(&[("sec-fetch-site", site)]);
            let own = OwnAddress {
                peer: REMOTE.parse().unwrap(),
                trusted_proxies: &[],
                public_url: None,
            };
            assert_eq!(
                check(&Method::POST, &h, None, &own),
                Err(Refusal::OtherSite(&HeaderValue::from_static(site))),
                "{site:?}"
            );
        }
        // It wins over a matching Origin, and a same-origin one over a foreign Origin.
        assert!(!post_passes(
            &[
                ("sec-fetch-site", "same-site"),
                ("host", "usher.example.com"),
                ("origin", "https://usher.example.com"),
            ],
            REMOTE
        ));
        assert!(post_passes(
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://evil.example"),
            ],
            REMOTE
        ));
        // Sent twice: believe neither.
        assert!(!post_passes(
            &[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "same-origin"),
            ],
            REMOTE
        ));
    }

    #[test]
    fn neither_header_is_not_a_browser_and_passes() {
        assert!(post_passes(&[], REMOTE));
        assert!(post_passes(&[("host", "usher.example.com")], REMOTE));
    }

    #[test]
    fn origin_must_match_the_host() {
        let host = |origin: &'static str, host: &'static str| {
            post_passes(&[("host", host), ("origin", origin)], REMOTE)
        };
        assert!(host("https://usher.example.com", "usher.example.com"));
        assert!(host("https://USHER.example.com", "usher.EXAMPLE.com"));
        assert!(host("http://127.0.0.1:8420", "127.0.0.1:8420"));
        assert!(host("https://usher.example.com", "usher.example.com:443"));
        assert!(host("http://[::1]:8420", "[::1]:8420"));
        assert!(!host("https://evil.example", "usher.example.com"));
        assert!(!host(
            "https://usher.example.com.evil.example",
            "usher.example.com"
        ));
        assert!(!host("http://127.0.0.1:9999", "127.0.0.1:8420"));
        assert!(!host("http://127.0.0.1:8420", "127.0.0.1"));
        assert!(!host("http://[::1]:8420", "[::1]:9999"));
        // No Host at all: only the request target's authority (HTTP/2).
        let own = OwnAddress {
            peer: REMOTE.parse().unwrap(),
            trusted_proxies: &[],
            public_url: None,
        };
        let h = headers(&[("origin", "https://usher.example.com")]);
        assert!(check(&Method::POST, &h, Some("usher.example.com"), &own).is_ok());
        assert!(check(&Method::POST, &h, None, &own).is_err());
    }

    #[test]
    fn null_or_malformed_origin_refused() {
        for origin in [
            "null",
            "",
            "usher.example.com",
            "ftp://usher.example.com",
            "https://",
            "https://usher.example.com/",
            "https://user@usher.example.com",
            "https://usher.example.com:",
            "https://usher.example.com:+443",
            "https://usher.example.com:99999",
            "https://[::1",
            "https://[]",
        ] {
            let h = headers(&[("host", "usher.example.com"), ("origin", origin)]);
            let own = OwnAddress {
                peer: REMOTE.parse().unwrap(),
                trusted_proxies: &[],
                public_url: None,
            };
            assert_eq!(
                check(&Method::POST, &h, None, &own),
                Err(Refusal::BadOrigin(&HeaderValue::from_static(origin))),
                "{origin:?}"
            );
        }
        assert!(!post_passes(
            &[
                ("host", "usher.example.com"),
                ("origin", "https://usher.example.com"),
                ("origin", "https://usher.example.com"),
            ],
            REMOTE
        ));
    }

    #[test]
    fn forwarded_host_counts_only_from_a_trusted_proxy() {
        let pairs = [
            ("host", "127.0.0.1:8420"),
            ("x-forwarded-host", "usher.example.com"),
            ("origin", "https://usher.example.com"),
        ];
        assert!(post_passes(&pairs, LOCAL));
        assert!(!post_passes(&pairs, REMOTE));
        // Two X-Forwarded-Host lines, or a list: believe neither.
        assert!(!post_passes(
            &[
                ("x-forwarded-host", "usher.example.com"),
                ("x-forwarded-host", "usher.example.com"),
                ("origin", "https://usher.example.com"),
            ],
            LOCAL
        ));
        assert!(!post_passes(
            &[
                ("x-forwarded-host", "usher.example.com, other.example"),
                ("origin", "https://usher.example.com"),
            ],
            LOCAL
        ));
    }

    #[test]
    fn public_url_counts_with_its_port() {
        let public: Url = "https://usher.example.com/".parse().unwrap();
        let with_port: Url = "http://usher.example.com:8420/".parse().unwrap();
        let decide = |public: &Url, origin: &'static str| {
            let own = OwnAddress {
                peer: REMOTE.parse().unwrap(),
                trusted_proxies: &[],
                public_url: Some(public),
            };
            let h = headers(&[("host", "10.0.0.5:8420"), ("origin", origin)]);
            check(&Method::POST, &h, None, &own).is_ok()
        };
        assert!(decide(&public, "https://usher.example.com"));
        assert!(decide(&public, "https://Usher.Example.com:443"));
        assert!(!decide(&public, "http://usher.example.com"));
        assert!(!decide(&public, "https://usher.example.com:8443"));
        assert!(!decide(&public, "https://evil.example"));
        assert!(decide(&with_port, "http://usher.example.com:8420"));
        assert!(!decide(&with_port, "http://usher.example.com"));
    }

    #[test]
    fn split_authority_reads_host_and_port() {
        assert_eq!(split_authority("a.example"), Some(("a.example", None)));
        assert_eq!(
            split_authority("a.example:81"),
            Some(("a.example", Some(81)))
        );
        assert_eq!(split_authority("[::1]:81"), Some(("[::1]", Some(81))));
        assert_eq!(split_authority("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_authority("::1"), None);
        assert_eq!(split_authority("a b"), None);
        assert_eq!(split_authority(""), None);
    }
}
