//! Organizr `config.php` key → Usher setting: ONE table, like `settings/defs.rs`. Each row says
//! how the value converts; every key not in [`MAPPINGS`] is reported with the reason from
//! [`NOT_MAPPED`] (first matching prefix), so a dry run accounts for every Organizr setting.

use serde_json::{json, Value};

use super::config_php::PhpValue;
use super::secrets::{self, Stored};
use crate::settings;

/// How an Organizr value becomes an Usher value (before Usher's own validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convert {
    /// `true`/`false` (Organizr also writes `'1'`/`'0'` and `'true'`/`'false'`).
    Bool,
    /// Text as it is (decrypted first when the key contains "password").
    Text,
    /// A number Organizr keeps as text (`'7'`).
    Number,
    /// A group threshold: 999 (guests) becomes 998, Usher's "anyone signed in".
    MinGroup,
    /// Comma-separated URLs, each instance kept.
    UrlList,
    /// `internal` / `both` / `external`, read together with `authBackend`.
    AuthType,
    /// `plex`; any other backend has no equivalent.
    AuthBackend,
    /// IPs/CIDRs added to Usher's default trusted proxies.
    TrustedProxies,
}

/// One mapped key.
#[derive(Debug)]
pub struct Mapping {
    pub organizr: &'static str,
    pub usher: &'static str,
    pub convert: Convert,
}

const fn map(organizr: &'static str, usher: &'static str, convert: Convert) -> Mapping {
    Mapping {
        organizr,
        usher,
        convert,
    }
}

use Convert::*;

/// Every Organizr setting Usher takes over.
pub const MAPPINGS: &[Mapping] = &[
    map("authType", "auth_type", AuthType),
    map("authBackend", "auth_backend", AuthBackend),
    map("plexToken", "plex.token", Text),
    map("plexID", "plex.machine_id", Text),
    map("plexAdmin", "plex.admin", Text),
    map("plexoAuth", "plex.oauth", Bool),
    map("plexStrictFriends", "plex.strict_friends", Bool),
    map("rememberMeDays", "remember_days", Number),
    map("ignoreTFAIfPlexOAuth", "two_factor.skip_for_plex", Bool),
    map("authProxyWhitelist", "trusted_proxies", TrustedProxies),
    map("ssoPlex", "sso.plex.enabled", Bool),
    map("ssoTautulli", "sso.tautulli.enabled", Bool),
    map("tautulliURL", "sso.tautulli.url", UrlList),
    map("ssoTautulliAuth", "sso.tautulli.min_group", MinGroup),
    map("ssoOmbi", "sso.ombi.enabled", Bool),
    map("ombiURL", "sso.ombi.url", Text),
    map("ombiToken", "sso.ombi.token", Text),
    map("ombiFallbackUser", "sso.ombi.fallback_user", Text),
    map("ombiFallbackPassword", "sso.ombi.fallback_password", Text),
    map("ssoOverseerr", "sso.overseerr.enabled", Bool),
    map("overseerrURL", "sso.overseerr.url", Text),
    map("overseerrToken", "sso.overseerr.token", Text),
    map("overseerrFallbackUser", "sso.overseerr.fallback_user", Text),
    map(
        "overseerrFallbackPassword",
        "sso.overseerr.fallback_password",
        Text,
    ),
    map("ssoJellyfin", "sso.jellyfin.enabled", Bool),
    map("jellyfinURL", "sso.jellyfin.url", Text),
    map("jellyfinSSOURL", "sso.jellyfin.browser_url", Text),
];

/// Why an Organizr setting is not taken over, by key prefix (first match wins; case-sensitive,
/// as Organizr's keys are).
pub const NOT_MAPPED: &[(&str, &str)] = &[
    ("organizrHash", "Organizr's JWT and encryption key: used by the import only to decrypt Organizr's passwords; Usher has its own secret key"),
    ("organizrAPI", "Organizr's admin API key: Usher has no API-key access"),
    ("uuid", "named Organizr's session cookie: sessions are not carried over (everyone signs in once more)"),
    ("configVersion", "Organizr's own bookkeeping"),
    ("branch", "Organizr's own bookkeeping"),
    ("license", "Organizr's own bookkeeping"),
    ("installedPlugins", "Organizr's own bookkeeping"),
    ("db", "where Organizr kept its database"),
    ("driver", "where Organizr kept its database"),
    ("authProxy", "Usher has no sign-in by trusted header (authProxyWhitelist is imported as trusted_proxies)"),
    ("ldap", "Usher's only sign-in backend is Plex"),
    ("authBackendHost", "Usher's only sign-in backend is Plex"),
    ("authBaseDN", "Usher's only sign-in backend is Plex"),
    ("authBackendDomain", "Usher's only sign-in backend is Plex"),
    ("emby", "Usher's only sign-in backend is Plex, and it has no Emby single sign-on"),
    ("jellyfinToken", "Usher signs people into Jellyfin with their own password; it needs no Jellyfin token"),
    ("ssoPetio", "Usher has no Petio single sign-on"),
    ("petio", "Usher has no Petio single sign-on"),
    ("ssoKomga", "Usher has no Komga single sign-on"),
    ("komga", "Usher has no Komga single sign-on"),
    ("tautulliApikey", "Organizr's homepage widget key; set sso.tautulli.api_key if your Tautulli needs one"),
    ("homepage", "Usher has no homepage widgets"),
    ("loginAttempts", "Organizr's lockout was kept by the browser; Usher throttles on the server (login.* settings)"),
    ("loginLockout", "Organizr's lockout was kept by the browser; Usher throttles on the server (login.* settings)"),
    ("matchUser", "Usher does not tie sessions to a browser or IP"),
    ("traefik", "Traefik's sign-in redirect: add ?redirect=1 to the forwardAuth address (docs/proxies/traefik.md)"),
    ("blacklisted", "Usher has no global IP blacklist: use proxy.rules"),
    ("registrationPassword", "Usher has no self-registration"),
    ("hideRegistration", "Usher has no self-registration"),
    ("ignoreTFA", "Organizr's two-factor secrets are not carried over: people turn Usher's on again on their profile (ignoreTFAIfPlexOAuth is imported)"),
    ("rememberMe", "Usher's sign-in form always offers \"remember me\" (rememberMeDays is imported)"),
    ("lockout", "Usher has no inactivity lock screen"),
    ("lockScreen", "Usher has no inactivity lock screen"),
    ("debugArea", "Usher's debug area is for administrators (groups 0–1)"),
];

/// The reason an Organizr key is not imported.
pub fn not_mapped_reason(key: &str) -> &'static str {
    NOT_MAPPED
        .iter()
        .find(|(prefix, _)| key.starts_with(prefix))
        .map_or("no equivalent in Usher", |(_, reason)| reason)
}

/// The mapping of an Organizr key, if Usher takes it over.
pub fn mapping(key: &str) -> Option<&'static Mapping> {
    MAPPINGS.iter().find(|m| m.organizr == key)
}

/// The outcome of converting one mapped value.
pub enum Converted {
    /// The value for the Usher setting.
    Set(Value),
    /// Nothing set in Organizr: Usher's default stays.
    Empty,
    /// This value has no equivalent, for this reason.
    NotMapped(&'static str),
}

/// Converts one mapped Organizr value.
pub fn convert(
    m: &Mapping,
    v: &PhpValue,
    config: &PhpValue,
    hash: Option<&str>,
) -> Result<Converted, String> {
    let text = match v {
        PhpValue::Str(s) => s.trim().to_string(),
        PhpValue::Int(i) => i.to_string(),
        PhpValue::Float(f) => f.to_string(),
        PhpValue::Bool(b) => b.to_string(),
        PhpValue::Null => String::new(),
        PhpValue::Array(_) => return Err("is an array, expected a single value".into()),
    };
    if text.is_empty() && !matches!(m.convert, Convert::Bool) {
        return Ok(Converted::Empty);
    }
    let number = |t: &str| {
        t.parse::<i64>()
            .map_err(|_| format!("{t:?} is not a whole number"))
    };
    Ok(Converted::Set(match m.convert {
        Convert::Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => json!(true),
            "false" | "0" | "off" | "no" | "" => json!(false),
            other => return Err(format!("{other:?} is not true or false")),
        },
        Convert::Text if m.organizr.to_ascii_lowercase().contains("password") => {
            let hash = hash.ok_or("config.php has no organizrHash to decrypt it with")?;
            match secrets::decrypt(&text, hash) {
                Stored::Decrypted(plain) | Stored::Clear(plain) => json!(plain),
                Stored::WrongKey => {
                    return Err("does not decrypt with this config.php's organizrHash (was the hash key changed?)".into())
                }
            }
        }
        Convert::Text => json!(text),
        Convert::Number => json!(number(&text)?),
        Convert::MinGroup => json!(number(&text)?.min(998)),
        Convert::UrlList => {
            let urls: Vec<&str> = text.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
            json!(urls.join(","))
        }
        Convert::AuthType => {
            let plex = matches!(config.get("authBackend"), Some(PhpValue::Str(b)) if b == "plex");
            match (text.as_str(), plex) {
                ("internal", _) => json!("local"),
                ("both", true) => json!("local_and_backend"),
                ("external", true) => json!("backend"),
                ("both" | "external", false) => json!("local"),
                (other, _) => return Err(format!("{other:?} is not internal, both or external")),
            }
        }
        Convert::AuthBackend if text == "plex" => json!("plex"),
        Convert::AuthBackend => {
            return Ok(Converted::NotMapped("Usher's only sign-in backend is Plex: these people sign in with their Organizr password"))
        }
        Convert::TrustedProxies => {
            let defaults = settings::def("trusted_proxies")
                .and_then(|d| serde_json::from_str::<Vec<String>>(d.default).ok())
                .unwrap_or_default();
            let mut all = defaults;
            for ip in text.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
                if !all.iter().any(|a| a == ip) {
                    all.push(ip.to_string());
                }
            }
            json!(all)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_is_a_declared_setting_and_keys_are_unique() {
        for m in MAPPINGS {
            assert!(crate::settings::def(m.usher).is_some(), "{}", m.usher);
            assert_eq!(
                MAPPINGS.iter().filter(|o| o.organizr == m.organizr).count(),
                1,
                "{}",
                m.organizr
            );
        }
    }

    #[test]
    fn the_migration_guide_lists_every_mapping() {
        let guide = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/migrating-from-organizr.md"
        ))
        .unwrap();
        let rows = guide.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(rows, MAPPINGS.len(), "one table row per mapping");
        for m in MAPPINGS {
            let row = format!("| `{}` | `{}` |", m.organizr, m.usher);
            assert!(
                guide.contains(&row),
                "docs/migrating-from-organizr.md lacks {row}"
            );
        }
    }

    #[test]
    fn unmapped_reasons() {
        assert!(not_mapped_reason("homepageOrderplexrecent").contains("homepage"));
        assert!(not_mapped_reason("authProxyHeaderName").contains("trusted header"));
        assert_eq!(not_mapped_reason("title"), "no equivalent in Usher");
    }
}
