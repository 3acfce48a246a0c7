//! Forward auth (Caddy `forward_auth`, Traefik `forwardAuth`, nginx with the generated
//! snippet): the original request as the proxy describes it in `X-Forwarded-Method`,
//! `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-Uri`.
//!
//! Only headers from a trusted proxy reach this module (the caller checks the peer). Anything
//! odd — a missing or duplicated header, two hosts in one, a scheme other than http(s), a URI
//! with control characters or backslashes — is [`Malformed`] and refused: a forward-auth server
//! that guesses is how path rules get bypassed.
//!
//! How the path is decided, the way the strictest back end would read it (docs/security.md):
//! 1. the request target is split at its literal `/`, and each segment is percent-decoded once
//!    (`%2e` is a `.`, `%3b` a `;` from then on);
//! 2. a segment is refused when what it decodes to is still ambiguous: an encoded `/` or `\`,
//!    a `%XX` left over (double encoding), a control character;
//! 3. `;parameters` are cut from every segment before dot segments are looked for, and a
//!    segment whose name is then only dots (`.`, `..`, `..;x`, `%2e%2e;`) is refused — a proxy
//!    resolves real dot segments, so one that arrives is someone trying Tomcat's `/x/..;/admin`;
//! 4. empty segments are dropped (`//` is `/`). The path keeps its parameters; rules compare
//!    it with and without them ([`without_params`]; see `rules::first_match`).
//!
//! Never guess and never resolve a dot segment here: refusing is the only answer that no back
//! end reads differently.

use std::borrow::Cow;

use super::access::Malformed;

/// Longest `X-Forwarded-Uri` accepted (nginx's default large header buffer is 8k).
pub const MAX_URI: usize = 8192;
/// Longest `X-Forwarded-Host` accepted.
pub const MAX_HOST: usize = 261;

/// The original request, checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded<'a> {
    /// `GET`, `POST`, … (upper case letters only).
    pub method: &'a str,
    /// `http` or `https`.
    pub proto: &'static str,
    /// Host name in lower case without a trailing dot, with `:port` when one was given.
    pub host: String,
    /// Host name alone (no port), for host rules.
    pub hostname_len: usize,
    /// The raw request target as the client sent it (path and query).
    pub uri: &'a str,
    /// The path decoded once, segment by segment, repeated slashes collapsed, `;parameters`
    /// kept: what path rules match (see the module comment).
    pub path: String,
}

impl Forwarded<'_> {
    /// The host name without the port.
    pub fn hostname(&self) -> &str {
        &self.host[..self.hostname_len]
    }

    /// The original URL, `proto://host/uri`.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.proto, self.host, self.uri)
    }
}

/// Parses the four headers (each given only when sent exactly once). `Ok(None)` when none of
/// them is present: a plain nginx `auth_request`.
pub fn parse<'a>(
    method: Option<&'a str>,
    proto: Option<&'a str>,
    host: Option<&'a str>,
    uri: Option<&'a str>,
) -> Result<Option<Forwarded<'a>>, Malformed> {
    if method.is_none() && proto.is_none() && host.is_none() && uri.is_none() {
        return Ok(None);
    }
    let (Some(method), Some(proto), Some(host), Some(uri)) = (method, proto, host, uri) else {
        return Err(Malformed);
    };
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Malformed);
    }
    let proto = if proto.eq_ignore_ascii_case("https") {
        "https"
    } else if proto.eq_ignore_ascii_case("http") {
        "http"
    } else {
        return Err(Malformed);
    };
    let (host, hostname_len) = normalise_host(host)?;
    let path = normalise_path(uri)?;
    Ok(Some(Forwarded {
        method,
        proto,
        host,
        hostname_len,
        uri,
        path,
    }))
}

/// Lower-cases the host, drops one trailing dot, checks the port; returns it and the length of
/// the host-name part.
pub fn normalise_host(raw: &str) -> Result<(String, usize), Malformed> {
    if raw.is_empty() || raw.len() > MAX_HOST {
        return Err(Malformed);
    }
    let (name, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or(Malformed)?;
        v6.parse::<std::net::Ipv6Addr>().map_err(|_| Malformed)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(Malformed)?),
        };
        (&raw[..v6.len() + 2], port)
    } else {
        match raw.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (raw, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Malformed);
        }
        p.parse::<u16>().map_err(|_| Malformed)?;
    }
    let name = if name.starts_with('[') {
        name.to_ascii_lowercase()
    } else {
        let n = name.strip_suffix('.').unwrap_or(name);
        let ok = !n.is_empty()
            && n.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !ok {
            return Err(Malformed);
        }
        n.to_ascii_lowercase()
    };
    let len = name.len();
    Ok(match port {
        Some(p) => (format!("{name}:{p}"), len),
        None => (name, len),
    })
}

/// Checks a request target and returns its path as path rules see it (the rule in the header
/// comment): each segment decoded once, empty segments dropped, `;parameters` kept.
pub fn normalise_path(uri: &str) -> Result<String, Malformed> {
    if !uri.starts_with('/')
        || uri.starts_with("//")
        || uri.len() > MAX_URI
        || uri
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'\\' || b == b'#' || b >= 0x80)
    {
        return Err(Malformed);
    }
    let raw_path = uri.split_once('?').map_or(uri, |(p, _)| p);
    let mut path = Vec::with_capacity(raw_path.len());
    for raw in raw_path.split('/').filter(|s| !s.is_empty()) {
        path.push(b'/');
        let start = path.len();
        decode_into(raw.as_bytes(), &mut path)?;
        check_segment(&path[start..])?;
    }
    if path.is_empty() || raw_path.ends_with('/') {
        path.push(b'/');
    }
    String::from_utf8(path).map_err(|_| Malformed)
}

/// Appends `raw` with each `%XX` decoded once; a bad escape is malformed.
fn decode_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), Malformed> {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let (hi, lo) = (raw.get(i + 1).copied(), raw.get(i + 2).copied());
            out.push(hex(hi.ok_or(Malformed)?)? << 4 | hex(lo.ok_or(Malformed)?)?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Ok(())
}

fn hex(b: u8) -> Result<u8, Malformed> {
    (b as char).to_digit(16).map(|d| d as u8).ok_or(Malformed)
}

/// Refuses a decoded segment that back ends could read in different ways: an encoded `/` or
/// `\`, a control character, a `%XX` left after decoding (double encoding), or a name that is
/// only dots once its `;parameters` are cut (`..;x`, `%2e%2e;`, and `.. ` / `...`, which
/// Windows file systems trim to dots).
fn check_segment(segment: &[u8]) -> Result<(), Malformed> {
    let double_encoded = segment
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
    if double_encoded
        || segment
            .iter()
            .any(|&b| b < b' ' || b == 0x7f || b == b'/' || b == b'\\')
    {
        return Err(Malformed);
    }
    let name = segment.split(|&b| b == b';').next().unwrap_or_default();
    if name.contains(&b'.') && name.iter().all(|&b| b == b'.' || b == b' ') {
        return Err(Malformed); // proxies resolve real dot segments; one that did not is being tricked
    }
    Ok(())
}

/// The path as a back end that cuts `;parameters` sees it (Tomcat, Jetty, Spring, ASP.NET):
/// each segment's parameters cut and segments left empty dropped (`/a;x/;y/b` → `/a/b`).
/// Borrowed when the path has no `;` (the usual case: no allocation).
pub fn without_params(path: &str) -> Cow<'_, str> {
    if !path.contains(';') {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut last = "";
    for segment in path.split('/').skip(1) {
        last = segment.split_once(';').map_or(segment, |(name, _)| name);
        if !last.is_empty() {
            out.push('/');
            out.push_str(last);
        }
    }
    if out.is_empty() || last.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

/// Whether the request looks like a page load (redirect to sign in) rather than an API or XHR
/// call (answer 401).
pub fn is_page_load(accept: Option<&str>, requested_with: Option<&str>) -> bool {
    requested_with.is_none() && accept.is_some_and(|a| a.contains("text/html"))
}

/// The sign-in address with `rd` set to the original URL: on `public_url` when set, otherwise
/// on the original host (Usher served under the same host, e.g. at /login).
pub fn login_url(public_url: Option<&str>, fwd: &Forwarded<'_>, original: &str) -> String {
    let rd: String = url::form_urlencoded::byte_serialize(original.as_bytes()).collect();
    match public_url {
        Some(base) => format!("{}/login?rd={rd}", base.trim_end_matches('/')),
        None => format!("{}://{}/login?rd={rd}", fwd.proto, fwd.host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(host: &str, uri: &str) -> Result<Option<Forwarded<'static>>, Malformed> {
        let host: &'static str = Box::leak(host.to_string().into_boxed_str());
        let uri: &'static str = Box::leak(uri.to_string().into_boxed_str());
        parse(Some("GET"), Some("https"), Some(host), Some(uri))
    }

    #[test]
    fn rebuilds_the_original_url() {
        let f = fwd("Sonarr.Example.COM.", "/calendar?x=1")
            .unwrap()
            .unwrap();
        assert_eq!(f.url(), "https://sonarr.example.com/calendar?x=1");
        assert_eq!(f.hostname(), "sonarr.example.com");
        assert_eq!(f.path, "/calendar");
        let f = fwd("media.lan:8443", "/a%20b//c/").unwrap().unwrap();
        assert_eq!((f.hostname(), f.path.as_str()), ("media.lan", "/a b/c/"));
        let f = fwd("[::1]:8080", "/").unwrap().unwrap();
        assert_eq!(f.hostname(), "[::1]");
        assert_eq!(parse(None, None, None, None), Ok(None));
    }

    #[test]
    fn refuses_what_a_proxy_would_not_send() {
        for (host, uri) in [
            ("a.com, evil.com", "/"),
            ("a.com:99999", "/"),
            ("a.com:", "/"),
            ("user@a.com", "/"),
            ("a..com", "/"),
            ("", "/"),
            ("a.com", "relative"),
            ("a.com", "//evil.com/"),
            ("a.com", "/x/../admin"),
            ("a.com", "/x/%2e%2e/admin"),
            ("a.com", "/x/%252e%252e/admin"),
            ("a.com", "/x\\..\\admin"),
            ("a.com", "/x%00"),
            ("a.com", "/x%zz"),
            ("a.com", "/x y"),
            ("a.com", "/x#frag"),
            ("a.com", "/%5c"),
            ("a.com", "/x%2fadmin"),
            ("a.com", "/x%2F..%2Fadmin"),
            ("a.com", "/x/%25%32%65%25%32%65/admin"),
            ("a.com", "/x/%252F"),
        ] {
            assert_eq!(fwd(host, uri), Err(Malformed), "{host} {uri}");
        }
        assert!(parse(Some("GET"), Some("ftp"), Some("a.com"), Some("/")).is_err());
        assert!(parse(Some("get"), Some("http"), Some("a.com"), Some("/")).is_err());
        assert!(parse(None, Some("http"), Some("a.com"), Some("/")).is_err());
        assert!(fwd("a.com", &format!("/{}", "a".repeat(MAX_URI))).is_err());
    }

    #[test]
    fn dot_segments_are_refused_with_parameters_and_encoded() {
        for uri in [
            "/x/..;/admin",
            "/x/..;jsessionid=1/admin",
            "/x/.;/admin",
            "/x/%2e%2e;/admin",
            "/x/%2E%2E%3B/admin",
            "/x/..%3bx/admin",
            "/x/.%2e;a=1;b=2/admin",
            "/public;/../admin",
            "/x/..%20/admin",
            "/x/.../admin",
            "/x/..;",
        ] {
            assert_eq!(normalise_path(uri), Err(Malformed), "{uri}");
        }
    }

    #[test]
    fn paths_keep_their_parameters_and_decode_once() {
        for (uri, path) in [
            ("/admin;x=1", "/admin;x=1"),
            ("/admin%3Bx=1/users", "/admin;x=1/users"),
            ("/.well-known/x", "/.well-known/x"),
            ("/x/..hidden/.env", "/x/..hidden/.env"),
            ("/100%25%20done", "/100% done"),
            ("/%C3%A4pi//v3/?a=../b", "/äpi/v3/"),
        ] {
            assert_eq!(normalise_path(uri).as_deref(), Ok(path), "{uri}");
        }
        assert!(matches!(without_params("/a/b"), Cow::Borrowed("/a/b")));
        for (path, cut) in [
            ("/A;b=1/C;d;e/f", "/A/C/f"),
            ("/;x/admin", "/admin"),
            ("/x/;y", "/x/"),
            ("/x;y/", "/x/"),
            ("/;", "/"),
        ] {
            assert_eq!(without_params(path), cut, "{path}");
        }
    }

    #[test]
    fn page_loads_and_login_url() {
        assert!(is_page_load(Some("text/html,application/xhtml+xml"), None));
        assert!(!is_page_load(Some("text/html"), Some("XMLHttpRequest")));
        assert!(!is_page_load(Some("application/json"), None));
        assert!(!is_page_load(None, None));
        let f = fwd("app.example.com", "/x?a=1&b=2").unwrap().unwrap();
        assert_eq!(
            login_url(Some("https://usher.example.com/"), &f, &f.url()),
            "https://usher.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Fx%3Fa%3D1%26b%3D2"
        );
        assert_eq!(
            login_url(None, &f, "/x"),
            "https://app.example.com/login?rd=%2Fx"
        );
    }
}
