//! Run-time settings, declared once in [`DEFS`]: key, type, default, whether it is a secret,
//! where it lives in the settings UI (the seed's paths) and its help text. The admin API, the
//! CLI, validation, masking and the typed [`Settings`] snapshot all read that one table.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde_json::{json, Map, Value};
use url::Url;

use crate::crypto::SecretKey;
use crate::domain::group::{is_admin, GroupId, ADMIN};

mod defs;
mod validate;

pub use defs::{
    Change, Def, Kind, DEFS, INBOUND_SECRETS, OIDC as OIDC_SECTION, SECRET_DESTINATIONS,
};
use validate::string_list;
pub use validate::{
    check_cookie_domain, check_cookie_settings, parse_cidr, validate, SettingError,
};

impl Def {
    /// True when a member of `group` may change this setting through the API or the settings
    /// pages (the CLI may change every one).
    pub fn changeable_by(&self, group: GroupId) -> bool {
        match self.change {
            Change::Admin => group == ADMIN,
            Change::CoAdmin => is_admin(group),
        }
    }
}

/// The address setting a stored secret is sent to ([`SECRET_DESTINATIONS`]).
pub fn destination_of(secret: &str) -> Option<&'static str> {
    SECRET_DESTINATIONS
        .iter()
        .find(|(s, _)| *s == secret)
        .map(|(_, address)| *address)
}

/// Looks up a setting's declaration.
pub fn def(key: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.key == key)
}

/// Throttling of failed sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub max_failures_per_user: u32,
    pub max_failures_per_ip: u32,
    pub window_seconds: i64,
}

/// How passwords are checked (`auth_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// Usher's own accounts only ("Usher DB").
    Local,
    /// Usher's own password first, then the backend ("Usher DB + Backend").
    LocalAndBackend,
    /// The backend only ("Backend only").
    Backend,
}

impl AuthType {
    fn parse(s: &str) -> AuthType {
        match s {
            "local_and_backend" => AuthType::LocalAndBackend,
            "backend" => AuthType::Backend,
            _ => AuthType::Local,
        }
    }

    /// True when the Plex backend takes part in sign-in.
    pub fn uses_backend(self) -> bool {
        self != AuthType::Local
    }
}

/// The Plex backend's settings.
#[derive(Clone)]
pub struct PlexSettings {
    /// The owner's token (decrypted; never shown).
    pub token: Option<crate::plex::PlexToken>,
    pub machine_id: Option<String>,
    /// Owner's Plex username or e-mail.
    pub admin: Option<String>,
    pub oauth: bool,
    pub strict_friends: bool,
    pub default_group: i64,
    pub friends_refresh: std::time::Duration,
    pub timeout: std::time::Duration,
    pub tv_url: Url,
    pub auth_url: Url,
}

impl std::fmt::Debug for PlexSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlexSettings")
            .field("token", &self.token.as_ref().map(|_| "********"))
            .field("machine_id", &self.machine_id)
            .field("admin", &self.admin)
            .field("oauth", &self.oauth)
            .field("strict_friends", &self.strict_friends)
            .field("tv_url", &self.tv_url.as_str())
            .finish_non_exhaustive()
    }
}

/// A typed snapshot of all settings, replaced as a whole when anything changes. `Debug` shows
/// every value as [`Settings::shown`] does: secrets masked.
#[derive(Clone)]
pub struct Settings {
    /// Effective values (defaults filled in), secrets decrypted.
    values: BTreeMap<&'static str, Value>,
    /// Keys set explicitly (not defaults).
    explicit: Vec<&'static str>,
    pub public_url: Option<Url>,
    pub cookie_domain: Option<String>,
    pub cookie_name: String,
    pub remember_days: i64,
    /// `audit.retention_days`: how long the audit log keeps an entry.
    pub audit_retention_days: i64,
    pub trusted_proxies: Vec<IpNet>,
    pub allowed_redirect_hosts: Vec<String>,
    pub throttle: ThrottleSettings,
    /// `proxy.rules`, compiled: the hot path only compares.
    pub proxy_rules: Vec<crate::domain::rules::Rule>,
    pub auth_type: AuthType,
    pub plex: PlexSettings,
    pub two_factor: TwoFactorSettings,
    pub oidc: OidcSettings,
}

/// `oidc.*`: lifetimes of what the OpenID Connect provider hands out.
#[derive(Debug, Clone, Copy)]
pub struct OidcSettings {
    pub access_token_seconds: i64,
    pub id_token_seconds: i64,
    pub refresh_token_days: i64,
}

/// `two_factor.*`: who must use two-factor sign-in, and whether Plex sign-ins skip it.
#[derive(Debug, Clone, Copy)]
pub struct TwoFactorSettings {
    /// Groups up to this number must have two-factor on (-1: nobody).
    pub required_up_to_group: i64,
    pub skip_for_plex: bool,
}

impl TwoFactorSettings {
    /// Whether a person in `group` must have two-factor sign-in on.
    pub fn required_for(&self, group: crate::domain::GroupId) -> bool {
        group <= self.required_up_to_group
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for d in DEFS {
            map.entry(&d.key, &self.shown(d.key));
        }
        map.finish()
    }
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
        let bool_of = |k: &str| values.get(k).and_then(Value::as_bool).unwrap_or_default();
        let secs = |n: i64| std::time::Duration::from_secs(n.max(1) as u64);
        let url_of = |k: &str, fallback: &str| {
            str_of(k)
                .and_then(|u| Url::parse(&u).ok())
                .unwrap_or_else(|| Url::parse(fallback).expect("static URL"))
        };
        Ok(Settings {
            public_url: str_of("public_url").and_then(|u| Url::parse(&u).ok()),
            cookie_domain: str_of("cookie_domain"),
            cookie_name: str_of("cookie_name").unwrap_or_else(|| "usher_session".into()),
            remember_days: int_of("remember_days"),
            audit_retention_days: int_of("audit.retention_days"),
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
            auth_type: AuthType::parse(&str_of("auth_type").unwrap_or_default()),
            plex: PlexSettings {
                token: str_of("plex.token").map(crate::plex::PlexToken::from),
                machine_id: str_of("plex.machine_id"),
                admin: str_of("plex.admin"),
                oauth: bool_of("plex.oauth"),
                strict_friends: bool_of("plex.strict_friends"),
                default_group: int_of("plex.default_group"),
                friends_refresh: secs(int_of("plex.friends_refresh_seconds")),
                timeout: secs(int_of("plex.timeout_seconds")),
                tv_url: url_of("plex.tv_url", "https://plex.tv"),
                auth_url: url_of("plex.auth_url", "https://app.plex.tv/auth"),
            },
            two_factor: TwoFactorSettings {
                required_up_to_group: int_of("two_factor.required_up_to_group"),
                skip_for_plex: bool_of("two_factor.skip_for_plex"),
            },
            oidc: OidcSettings {
                access_token_seconds: int_of("oidc.access_token_seconds"),
                id_token_seconds: int_of("oidc.id_token_seconds"),
                refresh_token_days: int_of("oidc.refresh_token_days"),
            },
            values,
            explicit,
        })
    }

    /// The effective value of a setting (secrets in clear: for server-side use only).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// True when the setting was set (not its default).
    pub fn is_explicit(&self, key: &str) -> bool {
        self.explicit.contains(&key)
    }

    /// True when "Sign in with Plex" (the PIN flow) is offered: `plex.oauth` on and the backend in use.
    pub fn plex_oauth_enabled(&self) -> bool {
        self.plex.oauth && self.auth_type.uses_backend()
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
                    "default": default_of(d.key),
                    "is_default": !self.explicit.contains(&d.key),
                    "secret": d.secret,
                    "admin_only": d.change == Change::Admin,
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

/// The keys of a change set a member of `group` may not change, in the order given.
pub fn not_changeable_by<'a>(
    group: GroupId,
    keys: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    keys.into_iter()
        .filter(|k| def(k).is_some_and(|d| !d.changeable_by(group)))
        .cloned()
        .collect()
}

/// Adds to a change set the reset of every stored secret whose address it changes and for which
/// it sends no new value ([`SECRET_DESTINATIONS`]); returns the secrets so forgotten. Whoever
/// moves an app elsewhere without typing its secret again cannot send the old one there.
pub fn forget_moved_secrets(current: &Settings, patch: &mut ValidPatch) -> Vec<&'static str> {
    let mut forgotten = Vec::new();
    for &(secret, address) in SECRET_DESTINATIONS {
        let Some((_, new)) = patch.iter().find(|(k, _)| *k == address) else {
            continue;
        };
        let new = new.clone().unwrap_or_else(|| default_of(address));
        let moved = current.get(address) != Some(&new);
        let sent_again = patch.iter().any(|(k, _)| *k == secret);
        let stored = current.get(secret).is_some_and(|v| !v.is_null());
        if moved && !sent_again && stored {
            forgotten.push(secret);
        }
    }
    patch.extend(forgotten.iter().map(|k| (*k, None)));
    forgotten
}

fn default_of(key: &str) -> Value {
    def(key)
        .and_then(|d| serde_json::from_str(d.default).ok())
        .unwrap_or(Value::Null)
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
        assert_eq!(s.auth_type, AuthType::Local);
        assert!(s.plex.strict_friends && !s.plex.oauth && s.plex.token.is_none());
        assert_eq!(s.plex.default_group, 4);
        assert_eq!(s.plex.friends_refresh.as_secs(), 600);
        assert_eq!(s.plex.tv_url.as_str(), "https://plex.tv/");
    }

    #[test]
    fn plex_settings_validation() {
        assert!(validate("auth_type", &json!("backend")).is_ok());
        assert!(validate("auth_type", &json!("ldap")).is_err());
        assert!(validate("plex.default_group", &json!(0)).is_err());
        assert!(validate("plex.default_group", &json!(1)).is_err());
        assert_eq!(validate("plex.token", &json!("  ")).unwrap(), None);
        assert!(validate("plex.token", &json!("a\nb")).is_err());
        assert!(validate("plex.machine_id", &json!("9a6f3c0e5b1d")).is_ok());
        assert!(validate("plex.machine_id", &json!("x y")).is_err());
        assert!(validate("plex.tv_url", &json!("ftp://plex.tv")).is_err());
        assert_eq!(
            validate("plex.tv_url", &json!("http://127.0.0.1:9/")).unwrap(),
            Some(json!("http://127.0.0.1:9"))
        );
    }

    #[test]
    fn every_secret_names_where_it_is_sent_and_only_the_admin_moves_it() {
        for d in DEFS.iter().filter(|d| d.secret) {
            assert_eq!(d.change, Change::Admin, "{}", d.key);
            if INBOUND_SECRETS.contains(&d.key) {
                continue;
            }
            let address = destination_of(d.key)
                .unwrap_or_else(|| panic!("{} is a secret with no address", d.key));
            let a = def(address).expect("a declared address");
            assert!(
                matches!(a.kind, Kind::Url | Kind::OptionalUrl | Kind::UrlList),
                "{address}"
            );
            assert_eq!(d.change, Change::Admin, "{}", d.key);
            assert_eq!(a.change, Change::Admin, "{address}");
        }
        for d in DEFS.iter().filter(|d| d.change == Change::CoAdmin) {
            assert!(
                matches!(d.kind, Kind::Int { .. }),
                "{}: only time limits",
                d.key
            );
            assert!(d.changeable_by(1) && d.changeable_by(0) && !d.changeable_by(2));
        }
        assert!(!def("sso.jellyfin.url").unwrap().changeable_by(1));
        assert!(def("sso.jellyfin.url").unwrap().changeable_by(0));
    }

    #[test]
    fn moving_an_address_forgets_its_secrets_unless_they_are_sent_again() {
        let key = SecretKey::parse(&"00".repeat(32)).unwrap();
        let rows: BTreeMap<String, String> = [
            ("sso.ombi.url", json!("http://ombi:5000")),
            ("sso.ombi.token", json!("KEY")),
            ("plex.token", json!("TOKEN")),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), encode_for_store(k, v, &key)))
        .collect();
        let current = Settings::from_stored(&rows, &key).unwrap();
        let patch_of = |v: Value| validate_patch(v.as_object().unwrap()).unwrap();
        // Same address: nothing forgotten.
        let mut same = patch_of(json!({"sso.ombi.url": "http://ombi:5000/"}));
        assert!(forget_moved_secrets(&current, &mut same).is_empty());
        // New address: the stored token goes; the unset fallback password is left alone.
        let mut moved = patch_of(json!({"sso.ombi.url": "http://evil:5000"}));
        assert_eq!(
            forget_moved_secrets(&current, &mut moved),
            ["sso.ombi.token"]
        );
        assert!(moved.contains(&("sso.ombi.token", None)));
        // New address with the secret: kept as sent.
        let mut with =
            patch_of(json!({"sso.ombi.url": "http://evil:5000", "sso.ombi.token": "NEW"}));
        assert!(forget_moved_secrets(&current, &mut with).is_empty());
        // Back to the default address is a move too.
        let mut reset = patch_of(json!({"plex.tv_url": null}));
        assert!(
            forget_moved_secrets(&current, &mut reset).is_empty(),
            "already the default"
        );
        let mut away = patch_of(json!({"plex.tv_url": "http://127.0.0.1:9"}));
        assert_eq!(forget_moved_secrets(&current, &mut away), ["plex.token"]);
    }

    #[test]
    fn secrets_are_masked_in_debug() {
        let key = SecretKey::parse(&"00".repeat(32)).unwrap();
        let mut rows = BTreeMap::new();
        rows.insert(
            "plex.token".to_string(),
            encode_for_store("plex.token", &json!("ADMINTOKEN123"), &key),
        );
        assert!(!rows["plex.token"].contains("ADMINTOKEN123"));
        let s = Settings::from_stored(&rows, &key).unwrap();
        assert_eq!(s.plex.token.as_ref().unwrap().expose(), "ADMINTOKEN123");
        assert!(!format!("{s:?}").contains("ADMINTOKEN123"));
        assert_eq!(s.shown("plex.token"), json!("********"));
    }
}
