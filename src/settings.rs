//! Run-time settings, declared once in [`DEFS`]: key, type, default, whether it is a secret,
//! where it lives in the settings UI (the seed's paths) and its help text. The admin API, the
//! CLI, validation, masking and the typed [`Settings`] snapshot all read that one table.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde_json::{json, Map, Value};
use url::Url;

use crate::crypto::SecretKey;

/// The type of a setting, which decides its validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// A non-empty string.
    Text,
    /// An http(s) URL, or null for unset.
    OptionalUrl,
    /// A parent domain for cookies, or null for host-only cookies.
    CookieDomain,
    /// A cookie name (RFC 6265 token).
    CookieName,
    /// A list of IPs/CIDRs.
    CidrList,
    /// A list of host names.
    HostList,
    /// The `proxy.rules` list (see [`crate::domain::rules`]).
    ProxyRules,
}

/// One declared setting.
#[derive(Debug)]
pub struct Def {
    pub key: &'static str,
    pub kind: Kind,
    /// Default as a JSON literal.
    pub default: &'static str,
    /// Secrets are encrypted at rest and masked when shown.
    pub secret: bool,
    /// The settings page section, as the seed names it.
    pub section: &'static str,
    pub help: &'static str,
}

const AUTH: &str = "System Settings / Main / Authentication";
const GENERAL: &str = "System Settings / Main / General";
const PROXY: &str = "System Settings / Main / Proxy Auth";

/// Every run-time setting. Later features add their rows here.
pub const DEFS: &[Def] = &[
    Def {
        key: "public_url",
        kind: Kind::OptionalUrl,
        default: "null",
        secret: false,
        section: GENERAL,
        help: "The address people use to reach Usher, e.g. https://usher.example.com. Cookies are marked Secure when it is https.",
    },
    Def {
        key: "cookie_domain",
        kind: Kind::CookieDomain,
        default: "null",
        secret: false,
        section: AUTH,
        help: "Parent domain for the session cookie (e.g. example.com) so apps on subdomains share the sign-in. Empty = this host only. Public suffixes such as duckdns.org are refused: browsers would drop the cookie.",
    },
    Def {
        key: "cookie_name",
        kind: Kind::CookieName,
        default: "\"usher_session\"",
        secret: false,
        section: AUTH,
        help: "Name of the session cookie.",
    },
    Def {
        key: "remember_days",
        kind: Kind::Int { min: 1, max: 365 },
        default: "7",
        secret: false,
        section: AUTH,
        help: "How many days a \"remember me\" sign-in lasts (otherwise one day).",
    },
    Def {
        key: "trusted_proxies",
        kind: Kind::CidrList,
        default: "[\"127.0.0.0/8\", \"::1/128\"]",
        secret: false,
        section: AUTH,
        help: "Proxies whose X-Forwarded-For / X-Real-IP headers are believed (IPs or CIDRs). Anyone else's are ignored.",
    },
    Def {
        key: "allowed_redirect_hosts",
        kind: Kind::HostList,
        default: "[]",
        secret: false,
        section: AUTH,
        help: "Hosts the login page may send people back to, besides Usher's own host and hosts under the cookie domain.",
    },
    Def {
        key: "login.max_failures_per_user",
        kind: Kind::Int { min: 1, max: 1000 },
        default: "10",
        secret: false,
        section: AUTH,
        help: "Failed sign-ins for one username within the throttle window before it is paused.",
    },
    Def {
        key: "login.max_failures_per_ip",
        kind: Kind::Int { min: 1, max: 10000 },
        default: "30",
        secret: false,
        section: AUTH,
        help: "Failed sign-ins from one client IP within the throttle window before it is paused.",
    },
    Def {
        key: "login.throttle_seconds",
        kind: Kind::Int { min: 10, max: 86400 },
        default: "900",
        secret: false,
        section: AUTH,
        help: "The throttle window in seconds: failures older than this are forgotten.",
    },
    Def {
        key: "proxy.rules",
        kind: Kind::ProxyRules,
        default: "[]",
        secret: false,
        section: PROXY,
        help: "Access rules for the proxy-auth endpoints, checked in order after the URL's allow/deny lists and before its group number; the first match decides. Each is {\"action\": \"allow\"|\"deny\", \"users\": [names], \"groups\": [numbers or names], \"networks\": [CIDRs], \"hosts\": [host or *.domain], \"paths\": [prefix or glob with *]}; a missing condition means any. Host and path rules need a proxy that sends X-Forwarded-Host/-Uri (Caddy, Traefik, the generated nginx snippet). See docs/proxies/rules.md.",
    },
];

/// Looks up a setting's declaration.
pub fn def(key: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.key == key)
}

/// Why a setting value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown setting `{0}`")]
    Unknown(String),
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl SettingError {
    fn invalid(key: &str, reason: impl Into<String>) -> Self {
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
        Kind::ProxyRules => {
            crate::domain::rules::compile(value).map_err(|r| bad(&r))?;
            value.clone()
        }
    };
    Ok(Some(normalised))
}

/// A list given as a JSON array of strings, or as one comma-separated string (handy on the CLI).
fn string_list(value: &Value) -> Option<Vec<String>> {
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

fn parse_http_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("{s:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{s:?} must start with http:// or https:// and name a host"
        ));
    }
    Ok(url)
}

fn is_hostname(host: &str) -> bool {
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

/// Throttling of failed sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub max_failures_per_user: u32,
    pub max_failures_per_ip: u32,
    pub window_seconds: i64,
}

/// A typed snapshot of all settings, replaced as a whole when anything changes.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Effective values (defaults filled in), secrets decrypted.
    values: BTreeMap<&'static str, Value>,
    /// Keys set explicitly (not defaults).
    explicit: Vec<&'static str>,
    pub public_url: Option<Url>,
    pub cookie_domain: Option<String>,
    pub cookie_name: String,
    pub remember_days: i64,
    pub trusted_proxies: Vec<IpNet>,
    pub allowed_redirect_hosts: Vec<String>,
    pub throttle: ThrottleSettings,
    /// `proxy.rules`, compiled: the hot path only compares.
    pub proxy_rules: Vec<crate::domain::rules::Rule>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_values(BTreeMap::new()).expect("defaults are valid")
    }
}

impl Settings {
    /// Builds the snapshot from stored rows (key → stored JSON text).
    pub fn from_stored(
        rows: &BTreeMap<String, String>,
        key: &SecretKey,
    ) -> Result<Settings, SettingError> {
        let mut values = BTreeMap::new();
        for (k, text) in rows {
            let Some(d) = def(k) else {
                tracing::warn!(setting = %k, "ignoring a stored setting this version does not know");
                continue;
            };
            let mut v: Value = serde_json::from_str(text)
                .map_err(|e| SettingError::invalid(k, format!("stored value is not JSON: {e}")))?;
            if d.secret {
                let stored = v.as_str().unwrap_or_default();
                let plain = key
                    .decrypt(stored)
                    .map_err(|e| SettingError::invalid(k, e.to_string()))?;
                v = Value::String(plain);
            }
            // Re-validate: a value written by an older version or by hand must still be sound.
            if let Some(v) = validate(k, &v)? {
                values.insert(d.key, v);
            }
        }
        Settings::from_values(values)
    }

    fn from_values(
        explicit_values: BTreeMap<&'static str, Value>,
    ) -> Result<Settings, SettingError> {
        let explicit: Vec<&'static str> = explicit_values.keys().copied().collect();
        let mut values = explicit_values;
        for d in DEFS {
            values.entry(d.key).or_insert_with(|| {
                serde_json::from_str(d.default).expect("DEFS defaults are JSON")
            });
        }
        let str_of = |k: &str| values.get(k).and_then(Value::as_str).map(str::to_string);
        let int_of = |k: &str| values.get(k).and_then(Value::as_i64).unwrap_or_default();
        let list_of =
            |k: &str| string_list(values.get(k).unwrap_or(&Value::Null)).unwrap_or_default();
        Ok(Settings {
            public_url: str_of("public_url").and_then(|u| Url::parse(&u).ok()),
            cookie_domain: str_of("cookie_domain"),
            cookie_name: str_of("cookie_name").unwrap_or_else(|| "usher_session".into()),
            remember_days: int_of("remember_days"),
            trusted_proxies: list_of("trusted_proxies")
                .iter()
                .filter_map(|s| parse_cidr(s))
                .collect(),
            allowed_redirect_hosts: list_of("allowed_redirect_hosts"),
            throttle: ThrottleSettings {
                max_failures_per_user: int_of("login.max_failures_per_user") as u32,
                max_failures_per_ip: int_of("login.max_failures_per_ip") as u32,
                window_seconds: int_of("login.throttle_seconds"),
            },
            proxy_rules: crate::domain::rules::compile(
                values.get("proxy.rules").unwrap_or(&json!([])),
            )
            .map_err(|r| SettingError::invalid("proxy.rules", r))?,
            values,
            explicit,
        })
    }

    /// The effective value of a setting (secrets in clear: for server-side use only).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// True when cookies must carry the Secure flag.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
    }

    /// The value as shown to people: secrets masked.
    pub fn shown(&self, key: &str) -> Value {
        let d = def(key);
        match (d, self.values.get(key)) {
            (Some(d), Some(Value::String(s))) if d.secret && !s.is_empty() => json!("********"),
            (_, Some(v)) => v.clone(),
            _ => Value::Null,
        }
    }

    /// Every setting with its metadata, secrets masked: what the API and CLI list.
    pub fn describe(&self) -> Vec<Value> {
        DEFS.iter()
            .map(|d| {
                json!({
                    "key": d.key,
                    "value": self.shown(d.key),
                    "default": serde_json::from_str::<Value>(d.default).unwrap_or(Value::Null),
                    "is_default": !self.explicit.contains(&d.key),
                    "secret": d.secret,
                    "section": d.section,
                    "help": d.help,
                })
            })
            .collect()
    }
}

/// Normalised values of a change set (`None` = back to the default).
pub type ValidPatch = Vec<(&'static str, Option<Value>)>;

/// Problems of a refused change set, by key.
pub type PatchErrors = BTreeMap<String, String>;

/// Validates a whole change set: every key must be known and every value valid, or nothing is
/// applied. Returns the normalised values (`None` = reset to default) or every problem by key.
pub fn validate_patch(patch: &Map<String, Value>) -> Result<ValidPatch, PatchErrors> {
    let mut ok = Vec::new();
    let mut errors = BTreeMap::new();
    for (k, v) in patch {
        match (def(k), validate(k, v)) {
            (Some(d), Ok(norm)) => ok.push((d.key, norm)),
            (_, Err(SettingError::Invalid { reason, .. })) => {
                errors.insert(k.clone(), reason);
            }
            (_, Err(e)) => {
                errors.insert(k.clone(), e.to_string());
            }
            (None, Ok(_)) => unreachable!("validate refuses unknown keys"),
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(errors)
    }
}

/// The text stored for a validated value: JSON, with secrets encrypted first.
pub fn encode_for_store(key: &str, value: &Value, secret_key: &SecretKey) -> String {
    match (def(key), value) {
        (Some(d), Value::String(s)) if d.secret => Value::String(secret_key.encrypt(s)).to_string(),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_domain_rules() {
        assert_eq!(check_cookie_domain(".Example.COM.").unwrap(), "example.com");
        assert!(check_cookie_domain("home.duckdns.org").is_ok());
        assert!(check_cookie_domain("duckdns.org")
            .unwrap_err()
            .contains("public suffix"));
        assert!(check_cookie_domain("co.uk").is_err());
        assert!(check_cookie_domain("com").is_err());
        assert!(check_cookie_domain("192.168.1.2").is_err());
        assert!(check_cookie_domain("localhost").is_err());
    }

    #[test]
    fn validation() {
        assert_eq!(
            validate("remember_days", &json!(30)).unwrap(),
            Some(json!(30))
        );
        assert!(validate("remember_days", &json!(366)).is_err());
        assert!(validate("remember_days", &json!("7")).is_err());
        assert_eq!(validate("remember_days", &Value::Null).unwrap(), None);
        assert!(matches!(
            validate("nope", &json!(1)),
            Err(SettingError::Unknown(_))
        ));
        assert!(validate("trusted_proxies", &json!(["10.0.0.0/8", "::1"])).is_ok());
        assert!(validate("trusted_proxies", &json!(["10.0.0.0/33"])).is_err());
        assert_eq!(
            validate("trusted_proxies", &json!("10.0.0.1, 10.0.0.2")).unwrap(),
            Some(json!(["10.0.0.1", "10.0.0.2"]))
        );
        assert!(validate("cookie_name", &json!("bad name")).is_err());
        assert_eq!(
            validate("public_url", &json!("https://u.example.com/")).unwrap(),
            Some(json!("https://u.example.com"))
        );
        assert!(validate("public_url", &json!("javascript:alert(1)")).is_err());
    }

    #[test]
    fn patch_is_all_or_nothing() {
        let patch: Map<String, Value> =
            serde_json::from_value(json!({"remember_days": 3, "cookie_domain": "duckdns.org"}))
                .unwrap();
        let errs = validate_patch(&patch).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs.contains_key("cookie_domain"));
        let patch: Map<String, Value> = serde_json::from_value(json!({
            "remember_days": 3,
            "proxy.rules": [{"action": "allow"}, {"action": "deny", "networks": ["nope"]}]
        }))
        .unwrap();
        let errs = validate_patch(&patch).unwrap_err();
        assert!(
            errs["proxy.rules"].contains("rules[1].networks"),
            "{errs:?}"
        );
    }

    #[test]
    fn defaults() {
        let s = Settings::default();
        assert_eq!(s.cookie_name, "usher_session");
        assert_eq!(s.remember_days, 7);
        assert_eq!(s.trusted_proxies.len(), 2);
        assert!(!s.secure_cookies());
    }
}
