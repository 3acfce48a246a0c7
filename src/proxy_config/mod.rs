//! `usher proxy-config`: ready snippets for nginx, Caddy and Traefik that put an app behind
//! Usher. The end-to-end tests load every variant into the real proxy (`nginx -t`, `caddy
//! validate`, then requests through it), and the docs show exactly this output.

mod caddy;
mod nginx;
mod traefik;

use std::fmt::Write as _;

pub use nginx::PROXY_CONF_MARKER;

use crate::domain::GroupId;

/// Which reverse proxy to write for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Proxy {
    Nginx,
    Caddy,
    Traefik,
}

/// Where the app lives relative to Usher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Its own host name (`grafana.example.com`); Usher's cookie needs `cookie_domain`.
    Subdomain,
    /// A path on Usher's host (`example.com/grafana/`); Usher serves `/` of that host.
    Subdirectory,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub proxy: Proxy,
    /// App name: a path segment and host label (`grafana`, `calibre-web`, `plex`, …).
    pub app: String,
    /// Where the proxy reaches the app; the known apps' default port when absent.
    pub upstream: Option<String>,
    /// Highest group number let in (0 Admin … 4 User, 998 anyone signed in, 999 everyone).
    pub group: GroupId,
    pub mode: Mode,
    /// Pass the identity to the app in `X-WEBAUTH-USER/-EMAIL/-GROUP` (Grafana, NZBHydra2,
    /// Calibre-Web). Client-sent identity headers are stripped either way.
    pub header_auth: bool,
    /// Where the proxy reaches Usher.
    pub usher: String,
    /// The parent domain: apps at `<app>.<domain>` or `<domain>/<app>/`.
    pub domain: String,
}

/// Why no snippet could be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

/// Default upstreams of the apps the docs cover.
const KNOWN_APPS: &[(&str, &str)] = &[
    ("grafana", "http://127.0.0.1:3000"),
    ("nzbhydra2", "http://127.0.0.1:5076"),
    ("calibre-web", "http://127.0.0.1:8083"),
    ("plex", "http://127.0.0.1:32400"),
    ("tautulli", "http://127.0.0.1:8181"),
    ("ombi", "http://127.0.0.1:3579"),
    ("overseerr", "http://127.0.0.1:5055"),
    ("jellyfin", "http://127.0.0.1:8096"),
];

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

impl Options {
    fn check(&self) -> Result<String, ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let name_ok = !self.app.is_empty()
            && self.app.len() <= 63
            && self
                .app
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.app.starts_with('-');
        if !name_ok {
            return bad(format!(
                "--app {:?}: use lower-case letters, digits and '-' (it becomes a path and a host name)",
                self.app
            ));
        }
        if !(0..=999).contains(&self.group) {
            return bad(format!(
                "--group {}: expected 0-999 (0 Admin, 4 User, 998 anyone signed in, 999 everyone)",
                self.group
            ));
        }
        let upstream = match (
            &self.upstream,
            KNOWN_APPS.iter().find(|(a, _)| *a == self.app),
        ) {
            (Some(u), _) => u.clone(),
            (None, Some((_, u))) => u.to_string(),
            (None, None) => {
                return bad(format!(
                    "--upstream is required for {:?} (known apps: {})",
                    self.app,
                    KNOWN_APPS
                        .iter()
                        .map(|(a, _)| *a)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        };
        for (flag, value) in [("--upstream", &upstream), ("--usher", &self.usher)] {
            match url::Url::parse(value) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => return bad(format!("{flag} {value:?}: expected http://HOST:PORT")),
            }
        }
        if crate::settings::check_cookie_domain(&self.domain).is_err() && self.domain != "localhost"
        {
            return bad(format!(
                "--domain {:?}: expected a domain such as example.com",
                self.domain
            ));
        }
        if self.app == "plex" && self.mode == Mode::Subdomain {
            return bad("--app plex: Plex SSO only works with Plex in a subdirectory of Usher's host (Plex keeps its token in the browser's storage for that origin); use --mode subdirectory".into());
        }
        Ok(upstream.trim_end_matches('/').to_string())
    }

    pub(crate) fn host(&self) -> String {
        match self.mode {
            Mode::Subdomain => format!("{}.{}", self.app, self.domain),
            Mode::Subdirectory => self.domain.clone(),
        }
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
}

/// The snippet for `opts`, or why not.
pub fn generate(opts: &Options) -> Result<String, ConfigError> {
    let upstream = opts.check()?;
    Ok(match opts.proxy {
        Proxy::Nginx if opts.app == "plex" => nginx::nginx_plex(opts, &upstream),
        Proxy::Nginx => nginx::nginx(opts, &upstream),
        Proxy::Caddy => caddy::caddy(opts, &upstream),
        Proxy::Traefik => traefik::traefik(opts, &upstream),
    })
}

/// The command line that reproduces `opts` (printed at the top of every snippet).
pub fn command_line(opts: &Options) -> String {
    let mut s = format!(
        "usher proxy-config --proxy {} --app {}",
        format!("{:?}", opts.proxy).to_lowercase(),
        opts.app
    );
    if let Some(u) = &opts.upstream {
        let _ = write!(s, " --upstream {u}");
    }
    let _ = write!(
        s,
        " --group {} --mode {}",
        opts.group,
        format!("{:?}", opts.mode).to_lowercase()
    );
    if opts.header_auth {
        s.push_str(" --header-auth");
    }
    s
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
    fn plex_includes_the_seed_block_and_proxy_conf() {
        let s = generate(&opts(Proxy::Nginx, "plex", Mode::Subdirectory)).unwrap();
        assert!(s.contains("location /plex/ {\n  proxy_pass http://127.0.0.1:32400/;"));
        assert!(s.contains("rewrite ^/web/(.*) /plex/web/$1? redirect;"));
        let (_, conf) = s.split_once(PROXY_CONF_MARKER).unwrap();
        assert!(conf.contains("proxy_set_header Connection \"upgrade\";"));
    }
}
