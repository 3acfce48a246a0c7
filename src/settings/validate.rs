//! Validation and normalisation of setting values, by [`Kind`].

use ipnet::IpNet;
use serde_json::{json, Value};
use url::Url;

use super::{def, Kind, PatchErrors, Settings, ValidPatch};

/// Why a setting value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown setting `{0}`")]
    Unknown(String),
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl SettingError {
    pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> Self {
        SettingError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Validates and normalises a value for `key`; `null` means "back to the default".
pub fn validate(key: &str, value: &Value) -> Result<Option<Value>, SettingError> {
    let d = def(key).ok_or_else(|| SettingError::Unknown(key.into()))?;
    if value.is_null() {
        return Ok(None);
    }
    let bad = |reason: &str| SettingError::invalid(key, reason);
    let normalised = match d.kind {
        Kind::Bool => json!(value
            .as_bool()
            .ok_or_else(|| bad("expected true or false"))?),
        Kind::Int { min, max } => {
            let n = value
                .as_i64()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| bad(&format!("expected a whole number from {min} to {max}")))?;
            json!(n)
        }
        Kind::Text => {
            let s = value
                .as_str()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| bad("expected a non-empty string"))?;
            json!(s.trim())
        }
        Kind::OptionalUrl => match value.as_str().map(str::trim) {
            Some("") => return Ok(None),
            Some(s) => json!(parse_http_url(s)
                .map_err(|r| bad(&r))?
                .as_str()
                .trim_end_matches('/')),
            None => return Err(bad("expected a URL such as https://usher.example.com")),
        },
        Kind::PublicUrl => match value.as_str().map(str::trim) {
            Some("") => return Ok(None),
            Some(s) => json!(parse_origin(s).map_err(|r| bad(&r))?),
            None => return Err(bad("expected a URL such as https://usher.example.com")),
        },
        Kind::CookieDomain => match value.as_str().map(str::trim) {
            Some("") => return Ok(None),
            Some(s) => json!(check_cookie_domain(s).map_err(|r| bad(&r))?),
            None => return Err(bad("expected a domain such as example.com")),
        },
        Kind::CookieName => {
            let s = value.as_str().unwrap_or("");
            let ok = !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !ok {
                return Err(bad("expected 1 to 64 letters, digits or -_. characters"));
            }
            json!(s)
        }
        Kind::CidrList => {
            let items = string_list(value).ok_or_else(|| bad("expected a list of IPs or CIDRs"))?;
            for item in &items {
                parse_cidr(item)
                    .ok_or_else(|| bad(&format!("{item:?} is not an IP address or CIDR")))?;
            }
            json!(items)
        }
        Kind::HostList => {
            let items = string_list(value).ok_or_else(|| bad("expected a list of host names"))?;
            let mut out = Vec::new();
            for item in items {
                let host = item.trim_end_matches('.').to_ascii_lowercase();
                if !is_hostname(&host) {
                    return Err(bad(&format!("{item:?} is not a host name")));
                }
                out.push(host);
            }
            json!(out)
        }
        Kind::Choice(options) => {
            let s = value.as_str().map(str::trim).unwrap_or_default();
            if !options.contains(&s) {
                return Err(bad(&format!("expected one of {}", options.join(", "))));
            }
            json!(s)
        }
        Kind::OptionalText => match value.as_str().map(str::trim) {
            Some("") => return Ok(None),
            Some(s) if s.chars().count() <= 1024 && !s.chars().any(char::is_control) => json!(s),
            _ => return Err(bad("expected text of at most 1024 characters, or null")),
        },
        Kind::Url => {
            let s = value
                .as_str()
                .map(str::trim)
                .ok_or_else(|| bad("expected an http(s) URL"))?;
            json!(parse_http_url(s)
                .map_err(|r| bad(&r))?
                .as_str()
                .trim_end_matches('/'))
        }
        Kind::NewAccountGroup => {
            let n = value
                .as_i64()
                .ok_or_else(|| bad("expected a group number such as 4"))?;
            crate::domain::group::check_default_group(n).map_err(|r| bad(&r))?;
            json!(n)
        }
        Kind::ProxyRules => {
            crate::domain::rules::compile(value).map_err(|r| bad(&r))?;
            value.clone()
        }
        Kind::MachineId => match value.as_str().map(str::trim) {
            Some("") => return Ok(None),
            Some(s)
                if s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                json!(s)
            }
            _ => return Err(bad("expected a machine identifier (letters, digits and dashes, as shown by http://PLEX:32400/identity)")),
        },
        Kind::UrlList => {
            let items = string_list(value).ok_or_else(|| bad("expected comma-separated URLs"))?;
            if items.is_empty() {
                return Ok(None);
            }
            let mut out = Vec::new();
            for item in &items {
                let url = parse_http_url(item).map_err(|r| bad(&r))?;
                out.push(url.as_str().trim_end_matches('/').to_string());
            }
            json!(out.join(","))
        }
        Kind::PathList => {
            let items = string_list(value).ok_or_else(|| bad("expected comma-separated paths"))?;
            if items.is_empty() {
                return Ok(None);
            }
            for item in &items {
                let ok = item.starts_with('/')
                    && !item.contains("//")
                    && item.chars().all(|c| c.is_ascii_graphic() && !matches!(c, ';' | ','));
                if !ok {
                    return Err(bad(&format!("{item:?} is not a path such as /tautulli")));
                }
            }
            json!(items.join(","))
        }
    };
    Ok(Some(normalised))
}

/// Checks the cookie settings a change would leave together (`current` with `patch` applied):
/// browsers silently drop a `__Host-` cookie that names a domain, and a `__Secure-` or
/// `__Host-` cookie that is not Secure (Usher marks it Secure only when `public_url` is https).
/// Each problem is reported under every involved key the change touches, naming them all;
/// a combination stored before this check does not block unrelated changes.
pub fn check_cookie_settings(current: &Settings, patch: &ValidPatch) -> Result<(), PatchErrors> {
    let changed = |key: &str| {
        patch
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let name = changed("cookie_name").map_or_else(
        || current.cookie_name.clone(),
        |v| text(v).unwrap_or_else(|| "usher_session".into()),
    );
    let domain = changed("cookie_domain").map_or_else(|| current.cookie_domain.clone(), text);
    let https = changed("public_url").map_or_else(
        || current.secure_cookies(),
        |v| text(v).is_some_and(|u| u.starts_with("https://")),
    );
    let prefixed = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let mut problems: Vec<(&[&str], String)> = Vec::new();
    if let (true, Some(domain)) = (prefixed("__Host-"), &domain) {
        problems.push((
            &["cookie_name", "cookie_domain"],
            format!("cookie_name {name:?} starts with __Host-, which browsers refuse together with cookie_domain ({domain}); clear cookie_domain or choose a cookie_name without __Host-"),
        ));
    }
    if (prefixed("__Host-") || prefixed("__Secure-")) && !https {
        problems.push((
            &["cookie_name", "public_url"],
            format!("cookie_name {name:?} needs a Secure cookie, which Usher sets only when public_url is https://…; set an https public_url or choose a cookie_name without __Host- or __Secure-"),
        ));
    }
    let mut errors = PatchErrors::new();
    for (keys, message) in problems {
        for key in keys.iter().filter(|k| changed(k).is_some()) {
            errors
                .entry(key.to_string())
                .and_modify(|m| {
                    m.push_str("; ");
                    m.push_str(&message);
                })
                .or_insert_with(|| message.clone());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A list given as a JSON array of strings, or as one comma-separated string (handy on the CLI).
pub(crate) fn string_list(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(|s| s.trim().to_string()))
            .collect(),
        Value::String(s) => Some(
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
        ),
        _ => None,
    }
}

/// Parses an IP or CIDR into a network (a bare IP is a /32 or /128).
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

pub(crate) fn parse_http_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("{s:?} is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo it: the user:password part is a secret that would end up in logs.
        return Err(
            "a URL must not carry a user name or password; use the API key or token setting".into(),
        );
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{s:?} must start with http:// or https:// and name a host"
        ));
    }
    Ok(url)
}

/// An http(s) origin for `public_url`: `/login?rd=…` and the Plex forward URL are appended to
/// it, so a query or fragment would swallow them, and Usher's pages link to `/assets/…` at the
/// root, so it cannot be served under a path.
fn parse_origin(s: &str) -> Result<String, String> {
    let url = parse_http_url(s)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{s:?} has a query or #fragment; public_url is only scheme, host and port, e.g. https://usher.example.com"
        ));
    }
    if url.path() != "/" {
        return Err(format!(
            "{s:?} has a path; Usher answers at the root of its own host name, so public_url is only scheme, host and port, e.g. https://usher.example.com"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

pub(crate) fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Normalises a cookie domain and refuses public suffixes (duckdns.org, co.uk, com, …), IPs and
/// single-label names: browsers drop cookies set for those, which is the login loop Organizr
/// users hit with dynamic-DNS hosts.
pub fn check_cookie_domain(s: &str) -> Result<String, String> {
    let d = s
        .trim()
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if d.parse::<std::net::IpAddr>().is_ok() {
        return Err(
            "an IP address cannot be a cookie domain; leave it empty for host-only cookies".into(),
        );
    }
    if !is_hostname(&d) || !d.contains('.') {
        return Err(format!("{s:?} is not a domain name such as example.com"));
    }
    if psl::domain_str(&d).is_none() {
        return Err(format!(
            "{d:?} is a public suffix (like duckdns.org): browsers refuse cookies for it; use your own subdomain such as myhome.{d}"
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod sso_list_tests {
    use super::*;

    #[test]
    fn url_lists_take_the_seeds_comma_form_and_name_the_bad_item() {
        let v = validate(
            "sso.tautulli.url",
            &json!(" http://10.0.0.5:8181/tautulli/ , http://10.0.0.6:8181"),
        )
        .unwrap();
        assert_eq!(
            v,
            Some(json!("http://10.0.0.5:8181/tautulli,http://10.0.0.6:8181"))
        );
        let v = validate("sso.tautulli.url", &json!(["http://a:1", "http://b:2/x"])).unwrap();
        assert_eq!(v, Some(json!("http://a:1,http://b:2/x")));
        let e = validate("sso.tautulli.url", &json!("http://admin:hunter2@a:1")).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = validate("sso.tautulli.url", &json!("http://a:1, tautulli:8181")).unwrap_err();
        assert!(e.to_string().contains("tautulli:8181"), "{e}");
        assert_eq!(validate("sso.tautulli.url", &json!("")).unwrap(), None);
    }

    #[test]
    fn path_lists_must_be_paths() {
        let v = validate("sso.tautulli.path", &json!("/tautulli, /stats")).unwrap();
        assert_eq!(v, Some(json!("/tautulli,/stats")));
        for bad in ["tautulli", "//evil.example", "/a b", "/x;y"] {
            assert!(validate("sso.tautulli.path", &json!(bad)).is_err(), "{bad}");
        }
    }
}
