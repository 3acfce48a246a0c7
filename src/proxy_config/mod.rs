//! `usher proxy-config`: ready snippets for nginx, Caddy and Traefik that put one or several
//! apps behind Usher. The end-to-end tests load every variant into the real proxy (`nginx -t`,
//! `caddy validate`, then requests through it), and the docs show exactly this output.
//!
//! What it must never do: print something that needs a hand edit to work (a shared block twice,
//! a lost port, a base-URL setting the app does not have).

mod apps;
mod caddy;
mod nginx;
mod traefik;

use std::fmt::Write as _;
use std::str::FromStr;

pub use apps::{guess_app, HEADER_AUTH_APPS};
pub use nginx::{HTTP_LEVEL_MARKER, PROXY_CONF_MARKER};

use crate::domain::GroupId;
use apps::{Known, KNOWN_APPS};

/// Which reverse proxy to write for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Proxy {
    Nginx,
    Caddy,
    Traefik,
}

/// Where the apps live relative to Usher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Its own host name (`grafana.example.com`); Usher's cookie needs `cookie_domain`.
    Subdomain,
    /// A path on Usher's host (`example.com/grafana/`); Usher serves `/` of that host.
    Subdirectory,
}

/// One app behind the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// App name: a known app (`calibre-web`, `tautulli`, …) or any name with an upstream.
    pub app: String,
    /// Where it lives on Usher's host (subdirectory mode): `/books`; `/{app}` when absent.
    pub path: Option<String>,
    /// Where the proxy reaches the app; the known apps' default port when absent.
    pub upstream: Option<String>,
    /// Highest group number let in (0 Admin … 4 User, 998 anyone signed in, 999 everyone).
    pub group: GroupId,
    /// Pass the identity to the app in `X-WEBAUTH-USER/-EMAIL/-GROUP` (Grafana, NZBHydra2,
    /// Calibre-Web). Client-sent identity headers are stripped either way.
    pub header_auth: bool,
}

/// The proxy, where Usher is, and the apps: everything one `proxy-config` run prints.
#[derive(Debug, Clone)]
pub struct Site {
    pub proxy: Proxy,
    pub mode: Mode,
    /// Where the proxy reaches Usher.
    pub usher: String,
    /// The parent domain: apps at `<app>.<domain>` or `<domain>/<app>/`.
    pub domain: String,
    pub apps: Vec<App>,
    /// nginx: keep connections to Usher open for the auth subrequests (an `upstream` block at
    /// http level). Without it nginx opens a new HTTP/1.0 connection for every protected request.
    pub keepalive: bool,
}

/// One app with everything around it: the shape of the single-app flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub proxy: Proxy,
    pub app: String,
    pub upstream: Option<String>,
    pub group: GroupId,
    pub mode: Mode,
    pub header_auth: bool,
    pub usher: String,
    pub domain: String,
}

impl From<&Options> for Site {
    fn from(o: &Options) -> Site {
        Site {
            proxy: o.proxy,
            mode: o.mode,
            usher: o.usher.clone(),
            domain: o.domain.clone(),
            apps: vec![App {
                app: o.app.clone(),
                path: None,
                upstream: o.upstream.clone(),
                group: o.group,
                header_auth: o.header_auth,
            }],
            keepalive: false,
        }
    }
}

/// `--usher` and `--domain` when not given.
pub const DEFAULT_USHER: &str = "http://127.0.0.1:8420";
pub const DEFAULT_DOMAIN: &str = "example.com";

/// Why no snippet could be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(message: String) -> Result<T, ConfigError> {
    Err(ConfigError::Invalid(message))
}

/// Identity headers Usher answers with; a client's copies never reach an app.
pub(crate) const IDENTITY_HEADERS: &[&str] = &[
    "X-WEBAUTH-USER",
    "X-WEBAUTH-EMAIL",
    "X-WEBAUTH-GROUP",
    "Remote-User",
    "Remote-Email",
    "Remote-Groups",
    "Remote-Name",
    "X-Organizr-User",
    "X-Organizr-Email",
    "X-Organizr-Group",
];

/// Usher's pages under `/plex/` (the Plex PIN sign-in without JavaScript): the proxy sends them
/// to Usher, not to Plex.
pub(crate) const USHER_PLEX_PAGES: &[&str] = &["/plex/start", "/plex/return"];

/// First path segments Usher serves itself: an app there would hide Usher's pages.
const USHER_PATHS: &[&str] = &[
    "api",
    "usher-auth",
    "login",
    "logout",
    "setup",
    "settings",
    "users",
    "groups",
    "tabs",
    "account",
    "debug",
    "assets",
    "sso",
    "healthz",
];

/// `--app NAME[,path=/x][,upstream=URL][,group=N][,header-auth]`.
impl FromStr for App {
    type Err = ConfigError;

    fn from_str(spec: &str) -> Result<App, ConfigError> {
        let mut parts = spec.split(',');
        let mut app = App {
            app: parts.next().unwrap_or_default().trim().to_string(),
            path: None,
            upstream: None,
            group: 4,
            header_auth: false,
        };
        for part in parts {
            match part.trim().split_once('=') {
                Some(("path", v)) => app.path = Some(v.to_string()),
                Some(("upstream", v)) => app.upstream = Some(v.to_string()),
                Some(("group", v)) => {
                    app.group = v.parse::<GroupId>().or_else(|_| {
                        invalid(format!("--app {spec:?}: group={v:?} is not a number"))
                    })?
                }
                None if part.trim() == "header-auth" => app.header_auth = true,
                _ => {
                    return invalid(format!(
                        "--app {spec:?}: unknown part {part:?} (use path=/x, upstream=URL, group=N, header-auth)"
                    ))
                }
            }
        }
        Ok(app)
    }
}

/// An app with every default filled in and checked: what the writers print.
pub(crate) struct Entry {
    pub name: String,
    pub known: Option<&'static Known>,
    /// `/books`: no trailing slash.
    pub path: String,
    pub upstream: String,
    pub group: GroupId,
    pub header_auth: bool,
}

impl Entry {
    pub(crate) fn is_plex(&self) -> bool {
        self.name == "plex"
    }

    /// The host of this app in subdomain mode.
    pub(crate) fn host(&self, site: &Site) -> String {
        format!("{}.{}", self.name, site.domain)
    }

    /// What to set in the app so it works under `path` (a comment line, no `#`).
    pub(crate) fn subdirectory_advice(&self) -> String {
        let setting = self
            .known
            .map(|k| k.subdirectory)
            .unwrap_or("set its URL base to PATH (it must serve its pages under PATH/)");
        format!(
            "{} at {}/: {}",
            self.name,
            self.path,
            setting.replace("PATH", &self.path)
        )
    }

    /// Calibre-Web has no URL-base setting: the proxy tells it with `X-Script-Name`.
    pub(crate) fn script_name(&self) -> Option<&str> {
        (self.name == "calibre-web").then_some(self.path.as_str())
    }
}

fn check_path(app: &App, mode: Mode) -> Result<String, ConfigError> {
    let Some(given) = &app.path else {
        return Ok(format!("/{}", app.app));
    };
    if mode == Mode::Subdomain {
        return invalid(format!(
            "--app {}: path={given} needs --mode subdirectory (on its own host an app lives at /)",
            app.app
        ));
    }
    let path = given.trim_end_matches('/');
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("").split('/').collect();
    let segment_ok = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    };
    if !path.starts_with('/') || !segments.iter().all(segment_ok) {
        return invalid(format!(
            "--path {given:?}: expected a subdirectory such as /books (letters, digits, - . _ ~)"
        ));
    }
    if USHER_PATHS.contains(&segments[0]) {
        return invalid(format!(
            "--path {given:?}: Usher serves /{} itself; choose another subdirectory",
            segments[0]
        ));
    }
    if app.app == "plex" && path != "/plex" {
        return invalid(format!(
            "--app plex: path={given} is not supported; Plex Web's links are rewritten for /plex/"
        ));
    }
    Ok(path.to_string())
}

fn check_app(app: &App, site: &Site) -> Result<Entry, ConfigError> {
    let name_ok = !app.app.is_empty()
        && app.app.len() <= 63
        && app
            .app
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !app.app.starts_with('-');
    if !name_ok {
        return invalid(format!(
            "--app {:?}: use lower-case letters, digits and '-' (it becomes a path and a host name)",
            app.app
        ));
    }
    if !(0..=999).contains(&app.group) {
        return invalid(format!(
            "--group {}: expected 0-999 (0 Admin, 4 User, 998 anyone signed in, 999 everyone)",
            app.group
        ));
    }
    let known = KNOWN_APPS.iter().find(|k| k.name == app.app);
    let upstream = match (&app.upstream, known) {
        (Some(u), _) => u.clone(),
        (None, Some(k)) => k.upstream.to_string(),
        (None, None) => {
            return invalid(format!(
                "--upstream is required for {:?} (known apps: {})",
                app.app,
                KNOWN_APPS
                    .iter()
                    .map(|k| k.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    check_url("--upstream", &upstream)?;
    if app.app == "plex" && site.mode == Mode::Subdomain {
        return invalid("--app plex: Plex SSO only works with Plex in a subdirectory of Usher's host (Plex keeps its token in the browser's storage for that origin); use --mode subdirectory".into());
    }
    Ok(Entry {
        name: app.app.clone(),
        known,
        path: check_path(app, site.mode)?,
        upstream: upstream.trim_end_matches('/').to_string(),
        group: app.group,
        header_auth: app.header_auth,
    })
}

fn check_url(flag: &str, value: &str) -> Result<(), ConfigError> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => invalid(format!("{flag} {value:?}: expected http://HOST:PORT")),
    }
}

impl Site {
    fn check(&self) -> Result<Vec<Entry>, ConfigError> {
        if self.apps.is_empty() {
            return invalid("--app is required".into());
        }
        check_url("--usher", &self.usher)?;
        if self.keepalive && self.proxy != Proxy::Nginx {
            return invalid(
                "--keepalive is for nginx: Caddy and Traefik keep connections to Usher open by themselves".into(),
            );
        }
        if crate::settings::check_cookie_domain(&self.domain).is_err() && self.domain != "localhost"
        {
            return invalid(format!(
                "--domain {:?}: expected a domain such as example.com",
                self.domain
            ));
        }
        let entries = self
            .apps
            .iter()
            .map(|a| check_app(a, self))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, e) in entries.iter().enumerate() {
            let earlier = &entries[..i];
            if self.mode == Mode::Subdirectory && earlier.iter().any(|o| o.path == e.path) {
                return invalid(format!(
                    "two apps at {}: give one another path (--app {},path=/other)",
                    e.path, e.name
                ));
            }
            let name_is_a_key = self.mode == Mode::Subdomain || self.proxy == Proxy::Traefik;
            if name_is_a_key && earlier.iter().any(|o| o.name == e.name) {
                return invalid(format!("--app {} twice: each app once", e.name));
            }
        }
        Ok(entries)
    }

    pub(crate) fn usher(&self) -> &str {
        self.usher.trim_end_matches('/')
    }

    /// `host:port` of Usher, for Caddy's upstream syntax.
    pub(crate) fn usher_authority(&self) -> String {
        let u = url::Url::parse(self.usher()).expect("checked");
        format!(
            "{}:{}",
            u.host_str().unwrap_or("127.0.0.1"),
            u.port_or_known_default().unwrap_or(80)
        )
    }

    /// The command line that reproduces this site (printed at the top of every snippet): the
    /// single-app flags for one app, `--app NAME,part,…` for several.
    pub fn command_line(&self) -> String {
        let proxy = format!("{:?}", self.proxy).to_lowercase();
        let mode = format!("{:?}", self.mode).to_lowercase();
        if let [a] = self.apps.as_slice() {
            let mut s = format!("usher proxy-config --proxy {proxy} --app {}", a.app);
            if let Some(p) = &a.path {
                let _ = write!(s, " --path {p}");
            }
            if let Some(u) = &a.upstream {
                let _ = write!(s, " --upstream {u}");
            }
            let _ = write!(s, " --group {} --mode {mode}", a.group);
            if a.header_auth {
                s.push_str(" --header-auth");
            }
            return s + &self.non_default_places();
        }
        let mut s = format!("usher proxy-config --proxy {proxy} --mode {mode}");
        for a in &self.apps {
            let _ = write!(s, " --app {}", a.app);
            if let Some(p) = &a.path {
                let _ = write!(s, ",path={p}");
            }
            if let Some(u) = &a.upstream {
                let _ = write!(s, ",upstream={u}");
            }
            if a.group != 4 {
                let _ = write!(s, ",group={}", a.group);
            }
            if a.header_auth {
                s.push_str(",header-auth");
            }
        }
        s + &self.non_default_places()
    }

    /// ` --usher URL --domain D` where they differ from the flags' defaults, and `--keepalive`.
    fn non_default_places(&self) -> String {
        let mut s = String::new();
        if self.keepalive {
            s.push_str(" --keepalive");
        }
        if self.usher != DEFAULT_USHER {
            let _ = write!(s, " --usher {}", self.usher);
        }
        if self.domain != DEFAULT_DOMAIN {
            let _ = write!(s, " --domain {}", self.domain);
        }
        s
    }
}

/// The snippet for every app of `site`, shared parts once, or why not.
pub fn generate_site(site: &Site) -> Result<String, ConfigError> {
    let apps = site.check()?;
    Ok(match site.proxy {
        Proxy::Nginx => nginx::nginx(site, &apps),
        Proxy::Caddy => caddy::caddy(site, &apps),
        Proxy::Traefik => traefik::traefik(site, &apps),
    })
}

/// The snippet for one app, or why not.
pub fn generate(opts: &Options) -> Result<String, ConfigError> {
    generate_site(&Site::from(opts))
}

/// The command line that reproduces `opts`.
pub fn command_line(opts: &Options) -> String {
    Site::from(opts).command_line()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(proxy: Proxy, app: &str, mode: Mode) -> Options {
        Options {
            proxy,
            app: app.into(),
            upstream: None,
            group: 4,
            mode,
            header_auth: true,
            usher: "http://127.0.0.1:8420".into(),
            domain: "example.com".into(),
        }
    }

    fn site(proxy: Proxy, mode: Mode, specs: &[&str]) -> Site {
        Site {
            proxy,
            mode,
            usher: "http://127.0.0.1:8420".into(),
            domain: "example.com".into(),
            apps: specs.iter().map(|s| s.parse().unwrap()).collect(),
            keepalive: false,
        }
    }

    #[test]
    fn refuses_what_would_not_work() {
        let mut o = opts(Proxy::Nginx, "Bad App", Mode::Subdomain);
        assert!(generate(&o).unwrap_err().to_string().contains("--app"));
        o.app = "unknown".into();
        assert!(generate(&o)
            .unwrap_err()
            .to_string()
            .contains("--upstream is required"));
        o.upstream = Some("ftp://x".into());
        assert!(generate(&o).unwrap_err().to_string().contains("--upstream"));
        let mut o = opts(Proxy::Nginx, "plex", Mode::Subdomain);
        assert!(generate(&o)
            .unwrap_err()
            .to_string()
            .contains("subdirectory"));
        o.mode = Mode::Subdirectory;
        o.group = 1000;
        assert!(generate(&o).unwrap_err().to_string().contains("--group"));
    }

    #[test]
    fn paths_are_checked_and_unique() {
        for (specs, says) in [
            (&["tautulli,path=books"][..], "expected a subdirectory"),
            (&["tautulli,path=/a/../b"], "expected a subdirectory"),
            (&["tautulli,path=/"], "expected a subdirectory"),
            (&["tautulli,path=/api"], "Usher serves /api"),
            (&["plex,path=/media"], "/plex/"),
            (&["tautulli,path=/x", "ombi,path=/x/"], "two apps at /x"),
        ] {
            let err = generate_site(&site(Proxy::Nginx, Mode::Subdirectory, specs)).unwrap_err();
            assert!(err.to_string().contains(says), "{specs:?}: {err}");
        }
        let err = generate_site(&site(Proxy::Nginx, Mode::Subdomain, &["ombi,path=/x"]));
        assert!(err.unwrap_err().to_string().contains("--mode subdirectory"));
        let err = generate_site(&site(
            Proxy::Traefik,
            Mode::Subdirectory,
            &["ombi", "ombi,path=/o"],
        ));
        assert!(err.unwrap_err().to_string().contains("twice"));
        let err = "ombi,colour=red".parse::<App>().unwrap_err();
        assert!(err.to_string().contains("colour=red"));
    }

    #[test]
    fn the_command_line_reproduces_several_apps() {
        let s = site(
            Proxy::Nginx,
            Mode::Subdirectory,
            &["calibre-web,path=/books/,header-auth", "tautulli,group=0"],
        );
        assert_eq!(
            s.command_line(),
            "usher proxy-config --proxy nginx --mode subdirectory --app calibre-web,path=/books/,header-auth --app tautulli,group=0"
        );
        let again: Vec<App> = s
            .command_line()
            .split(" --app ")
            .skip(1)
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(again, s.apps);
        let elsewhere = Site {
            usher: "http://usher:8420".into(),
            domain: "home.lan".into(),
            ..site(Proxy::Caddy, Mode::Subdomain, &["ombi"])
        };
        assert_eq!(
            elsewhere.command_line(),
            "usher proxy-config --proxy caddy --app ombi --group 4 --mode subdomain --usher http://usher:8420 --domain home.lan"
        );
    }

    #[test]
    fn plex_includes_the_seed_block_and_proxy_conf() {
        let s = generate(&opts(Proxy::Nginx, "plex", Mode::Subdirectory)).unwrap();
        assert!(s.contains("location /plex/ {\n  proxy_pass http://127.0.0.1:32400/;"));
        assert!(s.contains("rewrite ^/web/(.*) /plex/web/$1? redirect;"));
        let (_, conf) = s.split_once(PROXY_CONF_MARKER).unwrap();
        assert!(conf.contains("proxy_set_header Connection \"upgrade\";"));
    }
}
