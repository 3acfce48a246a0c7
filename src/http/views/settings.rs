//! Settings pages, one per section as the seed names them ("System Settings / Main /
//! Authentication", "… / Single Sign-On / Tautulli"). The fields come from the settings table
//! (src/settings/defs.rs), so a new setting shows up here without touching this file; saving goes
//! through `PATCH /api/v2/settings`, which validates everything and saves nothing on any error.
//! A Co-Admin sees the settings only the Admin may change read-only, with the reason.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

use super::layout::{AdminPage, Nav, Page};
use super::{message, page};
use crate::core::Core;
use crate::domain::group::{ADMIN, ADMIN_MAX, GUEST};
use crate::domain::GroupId;
use crate::settings::{Kind, Settings, DEFS};

/// One settings page: its address under /settings/, its place in the menu, and the section of
/// the settings table it shows.
pub struct Section {
    pub slug: &'static str,
    pub group: &'static str,
    pub title: &'static str,
    pub section: &'static str,
    /// The SSO app whose Test button this page carries.
    pub test_app: Option<&'static str>,
    pub intro: &'static str,
}

/// Every settings page, in menu order.
pub const SECTIONS: &[Section] = &[
    Section {
        slug: "main/authentication",
        group: "Main",
        title: "Authentication",
        section: "System Settings / Main / Authentication",
        test_app: None,
        intro: "Who may sign in and how. To let people sign in with their Plex account: set the authentication type to \"Usher accounts + backend\", choose Plex as the backend, and use the Retrieve buttons to fill in the Plex token and the Plex machine.",
    },
    Section {
        slug: "main/general",
        group: "Main",
        title: "General",
        section: "System Settings / Main / General",
        test_app: None,
        intro: "How people reach Usher.",
    },
    Section {
        slug: "main/proxy-auth",
        group: "Main",
        title: "Proxy Auth",
        section: "System Settings / Main / Proxy Auth",
        test_app: None,
        intro: "Rules your reverse proxy's auth requests go through, on top of the group numbers in their URLs. See docs/proxies/ for nginx, Caddy and Traefik snippets (or run usher proxy-config).",
    },
    Section {
        slug: "sso/general",
        group: "Single Sign-On",
        title: "General",
        section: "System Settings / Single Sign-On",
        test_app: None,
        intro: "At every sign-in Usher signs the person into each app turned on below. An app that is down or slow only loses its own sign-in, never the login.",
    },
    Section {
        slug: "sso/plex",
        group: "Single Sign-On",
        title: "Plex",
        section: "System Settings / Single Sign-On / Plex",
        test_app: None,
        intro: "Hands the person's Plex token to Plex Web served under Usher's own domain. If a Plex account was made with Facebook/Google/Apple, that person has to use Sign in with Plex.",
    },
    Section {
        slug: "sso/tautulli",
        group: "Single Sign-On",
        title: "Tautulli",
        section: "System Settings / Single Sign-On / Tautulli",
        test_app: Some("tautulli"),
        intro: "Tautulli lets in two kinds of people: its own admin login (the HTTP Username and Password in Tautulli's Settings / Web Interface: give the Usher admin the same name and password), and people who sign in with Plex: the server's admin when Allow Plex Admin is on, friends when Allow Guest Access is on in Settings / Web Interface and for them on Tautulli's Users page. Usher asks Tautulli's API (the API key below) before it tries, and skips everyone else.",
    },
    Section {
        slug: "sso/ombi",
        group: "Single Sign-On",
        title: "Ombi",
        section: "System Settings / Single Sign-On / Ombi",
        test_app: Some("ombi"),
        intro: "Ombi must be served under the same domain as Usher (a subdomain with cookie_domain set, or a sub-folder), and each person must already exist in Ombi: import your Plex users in Ombi's User Management settings.",
    },
    Section {
        slug: "sso/overseerr",
        group: "Single Sign-On",
        title: "Overseerr",
        section: "System Settings / Single Sign-On / Overseerr",
        test_app: Some("overseerr"),
        intro: "Overseerr must be served under the same domain as Usher. People who signed in with Plex are signed in with their Plex token; others with their e-mail and password (Overseerr's Enable Local Sign-In, Settings / Users), or as the fallback user when Overseerr refuses them.",
    },
    Section {
        slug: "sso/jellyfin",
        group: "Single Sign-On",
        title: "Jellyfin",
        section: "System Settings / Single Sign-On / Jellyfin",
        test_app: Some("jellyfin"),
        intro: "Jellyfin accounts must have the same user name and password as in Usher. Jellyfin must be served from Usher's own host (a subdirectory such as /jellyfin/), because it reads the sign-in from the browser's storage for that origin.",
    },
    Section {
        slug: "sso/openid-connect",
        group: "Single Sign-On",
        title: "OpenID Connect",
        section: crate::settings::OIDC_SECTION,
        test_app: None,
        intro: "Usher is an OpenID Connect provider: apps that sign people in with OIDC (Grafana, Immich, Nextcloud, Portainer, Audiobookshelf, oauth2-proxy, …) use the same Usher sign-in. Register each app as a client with `usher oidc client add` (see docs/oidc.md); the provider answers only when public_url is set.",
    },
];

/// The name a setting has on the page (the key is shown beside it, for the CLI and API).
pub fn label(key: &str) -> String {
    let known = match key {
        "public_url" => "Public URL",
        "cookie_domain" => "Cookie domain",
        "cookie_name" => "Cookie name",
        "remember_days" => "Remember me (days)",
        "trusted_proxies" => "Trusted proxies",
        "metrics.enabled" => "Prometheus metrics",
        "metrics.token" => "Metrics token",
        "allowed_redirect_hosts" => "Allowed redirect hosts",
        "login.max_failures_per_user" => "Failed sign-ins per account before a pause",
        "login.max_failures_per_ip" => "Failed sign-ins per address before a pause",
        "login.throttle_seconds" => "Pause after too many failures (seconds)",
        "proxy.rules" => "Proxy rules",
        "oidc.access_token_seconds" => "Access token lifetime (seconds)",
        "oidc.id_token_seconds" => "ID token lifetime (seconds)",
        "oidc.refresh_token_days" => "Refresh token lifetime (days)",
        "auth_type" => "Authentication type",
        "auth_backend" => "Authentication backend",
        "plex.token" => "Plex token",
        "plex.machine_id" => "Plex machine",
        "plex.admin" => "Plex admin username or email",
        "plex.oauth" => "Enable Plex OAuth",
        "plex.strict_friends" => "Strict Plex friends",
        "plex.default_group" => "Group for new Plex users",
        "plex.friends_refresh_seconds" => "Friends list refresh (seconds)",
        "plex.timeout_seconds" => "plex.tv timeout (seconds)",
        "plex.tv_url" => "plex.tv API address",
        "plex.auth_url" => "Plex sign-in page address",
        "sso.timeout_seconds" => "Time for all apps together (seconds)",
        "sso.app_timeout_seconds" => "Time per app (seconds)",
        "sso.plex.mpt_cookie" => "Also set Organizr's mpt cookie",
        "sso.tautulli.url" => "Tautulli URL(s)",
        "sso.tautulli.path" => "Tautulli browser path(s)",
        "sso.ombi.url" => "Ombi URL",
        "sso.ombi.token" => "Ombi API key",
        "sso.overseerr.url" => "Overseerr URL",
        "sso.overseerr.token" => "Overseerr API key",
        "sso.jellyfin.url" => "Jellyfin URL (for Usher)",
        "sso.jellyfin.browser_url" => "Jellyfin URL (for browsers)",
        "sso.tautulli.api_key" => "Tautulli API key",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    let last = key.rsplit('.').next().unwrap_or(key);
    let words = match last {
        "enabled" => "Enable",
        "min_group" => "Minimum group",
        "fallback_user" => "Fallback user",
        "fallback_password" => "Fallback password",
        other => other,
    };
    let mut s = words.replace('_', " ");
    if let Some(first) = s.get(0..1) {
        s = first.to_uppercase() + &s[1..];
    }
    s
}

/// How a choice is named on the page.
fn choice_label(key: &str, value: &str) -> String {
    match (key, value) {
        ("auth_type", "local") => "Usher accounts only".into(),
        ("auth_type", "local_and_backend") => {
            "Usher accounts + backend (Organizr DB + Backend)".into()
        }
        ("auth_type", "backend") => "Backend only".into(),
        ("auth_backend", "plex") => "Plex".into(),
        _ => value.to_string(),
    }
}

/// One input on a settings page.
pub struct FieldView {
    pub key: &'static str,
    pub id: String,
    pub label: String,
    pub help: &'static str,
    /// `checkbox`, `number`, `text`, `url`, `select`, `textarea`, `password`.
    pub control: &'static str,
    pub value: String,
    pub checked: bool,
    pub placeholder: String,
    /// `(value, label, selected)` of a select.
    pub options: Vec<(String, String, bool)>,
    /// `int`, `json` or `text`: how app.js sends the value.
    pub data_type: &'static str,
    /// `null` (back to the default) or `skip` (keep: secrets).
    pub empty: &'static str,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub is_default: bool,
    /// A secret that has a value (shown as "saved", never the value).
    pub secret_set: bool,
    /// `plex-token` / `plex-machine`: a Retrieve button beside the input.
    pub retrieve: Option<&'static str>,
    /// Shown read-only: the viewer's group may not change it ([`crate::settings::Change`]).
    pub locked: bool,
    /// A secret's address setting: changing that forgets the secret unless it is typed again.
    pub sent_to: Option<&'static str>,
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| i.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

fn field(settings: &Settings, d: &'static crate::settings::Def, viewer: GroupId) -> FieldView {
    let value = settings.get(d.key);
    let default: Value = serde_json::from_str(d.default).unwrap_or(Value::Null);
    let mut f = FieldView {
        key: d.key,
        id: format!("f-{}", d.key.replace('.', "-")),
        label: label(d.key),
        help: d.help,
        control: "text",
        value: String::new(),
        checked: false,
        placeholder: String::new(),
        options: Vec::new(),
        data_type: "text",
        empty: "null",
        min: None,
        max: None,
        is_default: !settings.is_explicit(d.key),
        secret_set: false,
        retrieve: match d.key {
            "plex.token" => Some("plex-token"),
            "plex.machine_id" => Some("plex-machine"),
            _ => None,
        },
        locked: !d.changeable_by(viewer),
        sent_to: crate::settings::destination_of(d.key),
    };
    if f.locked {
        // Retrieve sends the owner's token to plex.tv_url: the Admin's button alone.
        f.retrieve = None;
    }
    if d.secret {
        f.control = "password";
        f.empty = "skip";
        f.secret_set = matches!(value, Some(Value::String(s)) if !s.is_empty());
        f.placeholder = if f.secret_set {
            "Saved — leave empty to keep".into()
        } else {
            "Not set".into()
        };
        return f;
    }
    match d.kind {
        Kind::Bool => {
            f.control = "checkbox";
            f.checked = value.or(Some(&default)).and_then(Value::as_bool) == Some(true);
        }
        Kind::Int { min, max } => {
            f.control = "number";
            f.data_type = "int";
            f.min = Some(min);
            f.max = Some(max);
            f.value = text_of(value.or(Some(&default)));
        }
        Kind::NewAccountGroup => {
            f.control = "number";
            f.data_type = "int";
            f.min = Some(ADMIN_MAX + 1);
            f.max = Some(GUEST);
            f.value = text_of(value.or(Some(&default)));
        }
        Kind::Choice(options) => {
            f.control = "select";
            let current = text_of(value.or(Some(&default)));
            f.options = options
                .iter()
                .map(|o| (o.to_string(), choice_label(d.key, o), *o == current))
                .collect();
        }
        Kind::ProxyRules => {
            f.control = "textarea";
            f.data_type = "json";
            f.value = value
                .filter(|v| !v.is_null())
                .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
                .unwrap_or_default();
            f.placeholder = "[]".into();
        }
        Kind::OptionalUrl | Kind::PublicUrl | Kind::Url => {
            f.control = "url";
            f.value = text_of(value);
            f.placeholder = text_of(Some(&default));
        }
        _ => {
            f.value = text_of(value);
            f.placeholder = text_of(Some(&default));
        }
    }
    f
}

/// Settings shown first on their page, in the seed's order ("Change the Authentication type …
/// Choose Plex as the Authentication Backend. Use the Retrieve button to fill in the Plex Token
/// and Plex Machine. The other two toggles …"); the rest follow in the table's order.
const FIRST: &[&str] = &[
    "auth_type",
    "auth_backend",
    "plex.token",
    "plex.machine_id",
    "plex.oauth",
    "plex.strict_friends",
    "plex.default_group",
];

/// The fields of one section as a member of `viewer` sees them: [`FIRST`] first, then the
/// table's order.
pub fn fields(settings: &Settings, section: &str, viewer: GroupId) -> Vec<FieldView> {
    let mut defs: Vec<(usize, &'static crate::settings::Def)> = DEFS
        .iter()
        .filter(|d| d.section == section)
        .enumerate()
        .collect();
    defs.sort_by_key(|(i, d)| {
        (
            FIRST
                .iter()
                .position(|k| *k == d.key)
                .unwrap_or(FIRST.len()),
            *i,
        )
    });
    defs.into_iter()
        .map(|(_, d)| field(settings, d, viewer))
        .collect()
}

/// A menu entry.
pub struct MenuItem {
    pub group: &'static str,
    pub title: &'static str,
    pub href: String,
    pub current: bool,
    /// First entry of its group (the template prints the group's heading).
    pub starts_group: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    menu: Vec<MenuItem>,
    section: &'static Section,
    fields: Vec<FieldView>,
    /// Some fields are read-only for the viewer (a Co-Admin).
    some_locked: bool,
    /// Every field is read-only for the viewer: no Save button.
    all_locked: bool,
    /// The viewer may use the SSO Test button (the Admin: it sends the stored secrets).
    may_test: bool,
    /// The OpenID Connect page's list of clients.
    oidc: Option<OidcPanel>,
}

/// The registered OpenID Connect clients and the addresses apps are configured with.
struct OidcPanel {
    issuer: Option<String>,
    discovery: Option<String>,
    clients: Vec<crate::store::OidcClient>,
    /// Only the Admin registers clients (`FullAdmin` on the API).
    may_edit: bool,
}

async fn oidc_panel(core: &Core, settings: &Settings, viewer: GroupId) -> Option<OidcPanel> {
    let issuer = crate::http::oidc::issuer(settings);
    let clients = match core.store.oidc_clients().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "listing OpenID Connect clients failed");
            Vec::new()
        }
    };
    Some(OidcPanel {
        discovery: issuer
            .as_ref()
            .map(|i| format!("{i}/.well-known/openid-configuration")),
        issuer,
        clients,
        may_edit: viewer == ADMIN,
    })
}

/// `GET /settings`: the first section.
pub async fn settings_root() -> Response {
    Redirect::to(&format!("/settings/{}", SECTIONS[0].slug)).into_response()
}

/// `GET /settings/{group}/{name}`.
pub async fn settings_page(
    State(core): State<Arc<Core>>,
    Path((group, name)): Path<(String, String)>,
    Page(me): AdminPage,
) -> Response {
    let slug = format!("{group}/{name}");
    let Some(section) = SECTIONS.iter().find(|s| s.slug == slug) else {
        return message(
            StatusCode::NOT_FOUND,
            "No such settings page",
            "That settings section does not exist.",
            Some("/settings"),
        );
    };
    let settings = core.settings();
    let mut last_group = "";
    let menu = SECTIONS
        .iter()
        .map(|s| {
            let starts_group = s.group != last_group;
            last_group = s.group;
            MenuItem {
                group: s.group,
                title: s.title,
                href: format!("/settings/{}", s.slug),
                current: s.slug == slug,
                starts_group,
            }
        })
        .collect();
    let viewer = me.view.group_id;
    let fields = fields(&settings, section.section, viewer);
    let oidc = match section.section == crate::settings::OIDC_SECTION {
        true => oidc_panel(&core, &settings, viewer).await,
        false => None,
    };
    page(
        StatusCode::OK,
        SettingsPage {
            nav: Nav::new(&me, "settings"),
            menu,
            section,
            some_locked: fields.iter().any(|f| f.locked),
            all_locked: fields.iter().all(|f| f.locked),
            may_test: viewer == ADMIN,
            fields,
            oidc,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_a_page() {
        for d in DEFS {
            assert!(
                SECTIONS.iter().any(|s| s.section == d.section),
                "{} is in section {:?}, which no settings page shows",
                d.key,
                d.section
            );
        }
    }

    #[test]
    fn every_page_shows_settings() {
        let settings = Settings::default();
        for s in SECTIONS {
            assert!(
                !fields(&settings, s.section, ADMIN).is_empty(),
                "{} is empty",
                s.slug
            );
        }
    }

    #[test]
    fn authentication_starts_as_the_seed_describes() {
        let settings = Settings::default();
        let keys: Vec<&str> = fields(&settings, SECTIONS[0].section, ADMIN)
            .iter()
            .map(|f| f.key)
            .collect();
        assert_eq!(
            &keys[..4],
            ["auth_type", "auth_backend", "plex.token", "plex.machine_id"]
        );
    }

    #[test]
    fn labels_are_words() {
        assert_eq!(label("sso.ombi.fallback_user"), "Fallback user");
        assert_eq!(label("sso.tautulli.enabled"), "Enable");
        assert_eq!(label("plex.token"), "Plex token");
    }
}
