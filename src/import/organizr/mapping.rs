//! Organizr `config.php` key → Usher setting: ONE table, like `settings/defs.rs`. Each row says
//! how the value converts; every key not in [`MAPPINGS`] is reported with the reason from
//! [`NOT_MAPPED`] (first matching prefix), so a dry run accounts for every Organizr setting.

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
    ("ignoreTFA", "Usher has no two-factor sign-in yet"),
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
