//! The portal's "Add these apps to nginx" box for an admin: the tabs as they are, as one paste.
//!
//! Tabs on Usher's host become one subdirectory configuration (each at its tab's path, header
//! auth for the apps that sign people in from it, Usher's shared part once), which nginx takes
//! pasted whole into the server block. It must never print a block twice: nginx then refuses
//! the whole paste. Tabs on other hosts get the command that prints their own server block.

use std::net::{IpAddr, SocketAddr};

use crate::domain::Tab;
use crate::proxy_config::{generate_site, guess_app, App, Mode, Proxy, Site, HEADER_AUTH_APPS};

/// Where an unknown app is assumed to listen until the admin says.
const PLACEHOLDER_UPSTREAM: &str = "http://127.0.0.1:8080";

/// What the box shows.
pub(super) struct NginxBox {
    /// The paste for the server block of Usher's host; empty when no tab lives there.
    pub snippet: String,
    /// Tabs on hosts of their own: (tab name, the command for their server block).
    pub elsewhere: Vec<(String, String)>,
}

/// Where the tab lives: a path on Usher's host (`/books` from `/books/` or
/// `https://usher-host/books/x`), or the other host's name.
enum Place {
    OnUsher(String),
    Elsewhere(String),
}

fn place(tab: &Tab, usher_host: Option<&str>) -> Option<Place> {
    let path = match url::Url::parse(&tab.url) {
        Ok(u) if u.host_str().is_some() && u.host_str() != usher_host => {
            return u.host_str().map(|h| Place::Elsewhere(h.to_string()))
        }
        Ok(u) => u.path().to_string(),
        Err(_) if tab.url.starts_with('/') => tab.url.clone(),
        Err(_) => return None,
    };
    // The app's subdirectory is the first segment: a tab may open a page deeper inside it.
    let first = path.trim_start_matches('/').split(['/', '?', '#']).next()?;
    (!first.is_empty()).then(|| Place::OnUsher(format!("/{first}")))
}

/// The app behind a tab: a known one guessed from its name or URL, else a name from the tab's.
fn app_of(tab: &Tab) -> Option<(App, bool)> {
    let guessed = guess_app(&tab.name, &tab.url);
    let name = match guessed {
        Some(known) => known.to_string(),
        None => {
            let slug: String = tab
                .name
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let slug = slug.trim_matches('-').to_string();
            if slug.is_empty() {
                return None;
            }
            slug
        }
    };
    let app = App {
        header_auth: HEADER_AUTH_APPS.contains(&name.as_str()),
        upstream: guessed.is_none().then(|| PLACEHOLDER_UPSTREAM.to_string()),
        app: name,
        path: None,
        group: tab.group_id,
    };
    Some((app, guessed.is_none()))
}

/// The box for `tabs`, with Usher reached at `usher` and known as `usher_host` (from
/// `public_url`) when set; `None` when no tab can be put behind nginx.
pub(super) fn nginx_box(tabs: &[Tab], usher: &str, usher_host: Option<&str>) -> Option<NginxBox> {
    let base = Site {
        proxy: Proxy::Nginx,
        mode: Mode::Subdirectory,
        usher: usher.to_string(),
        domain: usher_host.unwrap_or("example.com").to_string(),
        apps: Vec::new(),
        keepalive: false,
    };
    let mut apps: Vec<App> = Vec::new();
    let mut placeholders = Vec::new();
    let mut elsewhere = Vec::new();
    for tab in tabs {
        let (Some(place), Some((mut app, unknown))) = (place(tab, usher_host), app_of(tab)) else {
            continue;
        };
        match place {
            Place::OnUsher(path) => {
                app.path = Some(path);
                // A tab the generator cannot place (a second app at one path, a path Usher
                // serves itself) is left out rather than spoil the whole paste.
                let mut with = apps.clone();
                with.push(app.clone());
                let fits = generate_site(&Site {
                    apps: with,
                    ..base.clone()
                })
                .is_ok();
                if fits {
                    if unknown {
                        placeholders.push(app.app.clone());
                    }
                    apps.push(app);
                }
            }
            Place::Elsewhere(host) => {
                elsewhere.push((tab.name.clone(), own_host_command(&base, &app, &host)))
            }
        }
    }
    let site = Site { apps, ..base };
    let snippet = if site.apps.is_empty() {
        String::new()
    } else {
        let mut s = generate_site(&site).ok()?;
        if !placeholders.is_empty() {
            s = format!(
                "# Change {PLACEHOLDER_UPSTREAM} (proxy_pass of {}) to where the app listens.\n{s}",
                placeholders.join(", ")
            );
        }
        s
    };
    (!snippet.is_empty() || !elsewhere.is_empty()).then_some(NginxBox { snippet, elsewhere })
}

/// Where a proxy on this machine reaches Usher: its listen address (loopback for "any").
pub(super) fn usher_address(listen: SocketAddr) -> String {
    let ip = if listen.ip().is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        listen.ip()
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// The command that prints the server block of an app on a host of its own.
fn own_host_command(base: &Site, app: &App, host: &str) -> String {
    let (label, domain) = host.split_once('.').unwrap_or((host, host));
    let site = Site {
        mode: Mode::Subdomain,
        domain: domain.to_string(),
        apps: vec![app.clone()],
        ..base.clone()
    };
    let mut s = site.command_line();
    if label != app.app {
        s.push_str(&format!("  (then set server_name {host})"));
    }
    s
}
