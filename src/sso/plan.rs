//! Which apps a person is signed into, built from the `sso.*` settings: each enabled app whose
//! minimum group the person's group reaches, one instance per configured URL.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

use super::jellyfin::Jellyfin;
use super::ombi::Ombi;
use super::overseerr::Overseerr;
use super::tautulli::Tautulli;
use super::{Fallback, SsoApp, SsoError};
use crate::settings::Settings;

/// The apps to sign a person into, and the time they may take.
pub struct Plan {
    pub apps: Vec<Arc<dyn SsoApp>>,
    /// Each app's own timeout.
    pub per_app: Duration,
    /// The deadline for all of them together.
    pub overall: Duration,
    /// Enabled apps whose settings do not make sense (reported, never fatal to the login).
    pub misconfigured: Vec<SsoError>,
}

/// The apps of the SSO settings, by their setting prefix.
pub const APPS: &[&str] = &["tautulli", "ombi", "overseerr", "jellyfin"];

fn text(settings: &Settings, key: &str) -> Option<String> {
    settings
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn secret(settings: &Settings, key: &str) -> Option<SecretString> {
    text(settings, key).map(SecretString::from)
}

fn flag(settings: &Settings, key: &str) -> bool {
    settings.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Comma-separated list → trimmed, non-empty items (the seed's form for several instances).
pub fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn seconds(settings: &Settings, key: &str, default: u64) -> Duration {
    let s = settings.get(key).and_then(Value::as_u64).unwrap_or(default);
    Duration::from_secs(s.max(1))
}

/// True when `app` is enabled and a person of `group_id` may use it (`min_group` is the
/// highest group number that gets the SSO; 998 = every signed-in person).
pub fn applies(settings: &Settings, app: &str, group_id: i64) -> bool {
    let min_group = settings
        .get(&format!("sso.{app}.min_group"))
        .and_then(Value::as_i64)
        .unwrap_or(998);
    flag(settings, &format!("sso.{app}.enabled")) && group_id <= min_group
}

/// The fallback user of an app, when both its name and password are set.
fn fallback(settings: &Settings, app: &str) -> Option<Fallback> {
    Some(Fallback {
        username: text(settings, &format!("sso.{app}.fallback_user"))?,
        password: secret(settings, &format!("sso.{app}.fallback_password"))?,
    })
}

/// Builds the plan for a person of `group_id`: every enabled app whose minimum group they reach.
pub fn plan(settings: &Settings, group_id: i64) -> Plan {
    plan_where(settings, |app| applies(settings, app, group_id))
}

/// The instances of one app as configured, enabled or not (the admin's Test button and the
/// debug area's checks).
pub fn plan_for_app(settings: &Settings, app: &str) -> Plan {
    plan_where(settings, |a| a == app)
}

fn plan_where(settings: &Settings, wanted: impl Fn(&str) -> bool) -> Plan {
    let per_app = seconds(settings, "sso.app_timeout_seconds", 3);
    let overall = seconds(settings, "sso.timeout_seconds", 5);
    let cookie_domain = settings.cookie_domain.clone();
    let mut apps: Vec<Arc<dyn SsoApp>> = Vec::new();
    let mut misconfigured = Vec::new();
    let mut add = |built: Result<Arc<dyn SsoApp>, SsoError>| match built {
        Ok(app) => apps.push(app),
        Err(e) => misconfigured.push(e),
    };
    if wanted("tautulli") {
        let urls = comma_list(&text(settings, "sso.tautulli.url").unwrap_or_default());
        let keys = comma_list(&text(settings, "sso.tautulli.api_key").unwrap_or_default());
        let paths = comma_list(&text(settings, "sso.tautulli.path").unwrap_or_default());
        if urls.is_empty() {
            add(Err(not_set("Tautulli", "sso.tautulli.url")));
        }
        for (i, url) in urls.iter().enumerate() {
            let key = keys.get(i).cloned().map(SecretString::from);
            let path = paths.get(i).map(String::as_str);
            add(
                Tautulli::new(url, key, path, cookie_domain.clone(), per_app)
                    .map(|t| Arc::new(t) as Arc<dyn SsoApp>),
            );
        }
    }
    if wanted("ombi") {
        add(match text(settings, "sso.ombi.url") {
            None => Err(not_set("Ombi", "sso.ombi.url")),
            Some(url) => Ombi::new(
                &url,
                secret(settings, "sso.ombi.token"),
                fallback(settings, "ombi"),
                cookie_domain.clone(),
                per_app,
            )
            .map(|a| Arc::new(a) as Arc<dyn SsoApp>),
        });
    }
    if wanted("overseerr") {
        add(match text(settings, "sso.overseerr.url") {
            None => Err(not_set("Overseerr", "sso.overseerr.url")),
            Some(url) => Overseerr::new(
                &url,
                secret(settings, "sso.overseerr.token"),
                fallback(settings, "overseerr"),
                cookie_domain.clone(),
                per_app,
            )
            .map(|a| Arc::new(a) as Arc<dyn SsoApp>),
        });
    }
    if wanted("jellyfin") {
        add(match text(settings, "sso.jellyfin.url") {
            None => Err(not_set("Jellyfin", "sso.jellyfin.url")),
            Some(url) => Jellyfin::new(
                &url,
                text(settings, "sso.jellyfin.browser_url").as_deref(),
                per_app,
            )
            .map(|a| Arc::new(a) as Arc<dyn SsoApp>),
        });
    }
    Plan {
        apps,
        per_app,
        overall,
        misconfigured,
    }
}

fn not_set(app: &'static str, key: &str) -> SsoError {
    SsoError::Config {
        app,
        reason: format!("it is enabled but `{key}` is not set"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_lists_ignore_blanks() {
        assert_eq!(
            comma_list(" http://a:8181/t , ,http://b:8181 "),
            ["http://a:8181/t", "http://b:8181"]
        );
        assert!(comma_list("").is_empty());
    }
}
