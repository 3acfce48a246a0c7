//! `usher proxy-config`: ready snippets for nginx, Caddy and Traefik that put an app behind
//! Usher. The end-to-end tests load every variant into the real proxy (`nginx -t`, `caddy
//! validate`, then requests through it), and the docs show exactly this output.

use std::fmt::Write as _;
use std::ops::Not;

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
const IDENTITY_HEADERS: &[&str] = &[
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

    fn host(&self) -> String {
        match self.mode {
            Mode::Subdomain => format!("{}.{}", self.app, self.domain),
            Mode::Subdirectory => self.domain.clone(),
        }
    }

    fn usher(&self) -> &str {
        self.usher.trim_end_matches('/')
    }

    /// `host:port` of Usher, for Caddy's upstream syntax.
    fn usher_authority(&self) -> String {
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
        Proxy::Nginx if opts.app == "plex" => nginx_plex(opts, &upstream),
        Proxy::Nginx => nginx(opts, &upstream),
        Proxy::Caddy => caddy(opts, &upstream),
        Proxy::Traefik => traefik(opts, &upstream),
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

const NGINX_AUTH_LOCATIONS: &str = r#"    # Asked before every protected request; /usher-auth/N = "may this person pass at group N?".
    # The X-Forwarded-* lines tell Usher the original URL (for access rules and the sign-in
    # redirect) and replace anything a client sent under those names.
    location ~ ^/usher-auth/(.*) {
        internal;
        proxy_pass USHER/api/v2/auth/$1;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Method $request_method;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-Uri $request_uri;
    }

    # Not signed in: a page load goes to Usher's sign-in page and comes back afterwards (Usher
    # puts the URL-encoded original address in Location); anything else gets the plain 401.
    location @usher_login {
        if ($usher_login = "") {
            return 401;
        }
        return 302 $usher_login;
    }
"#;

fn nginx_app_location(opts: &Options, path: &str, upstream: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "    location {path} {{");
    let _ = writeln!(s, "        auth_request /usher-auth/{};", opts.group);
    s.push_str("        auth_request_set $usher_login $upstream_http_location;\n");
    s.push_str("        error_page 401 = @usher_login;\n");
    if opts.header_auth {
        s.push_str(concat!(
            "        auth_request_set $usher_user  $upstream_http_x_organizr_user;\n",
            "        auth_request_set $usher_email $upstream_http_x_organizr_email;\n",
            "        auth_request_set $usher_group $upstream_http_x_organizr_group;\n",
            "        proxy_set_header X-WEBAUTH-USER  $usher_user;\n",
            "        proxy_set_header X-WEBAUTH-EMAIL $usher_email;\n",
            "        proxy_set_header X-WEBAUTH-GROUP $usher_group;\n",
        ));
    }
    s.push_str(
        "        # Identity headers a client sent are removed (\"\" drops a header in nginx).\n",
    );
    for h in IDENTITY_HEADERS {
        if !(opts.header_auth && h.starts_with("X-WEBAUTH")) {
            let _ = writeln!(s, "        proxy_set_header {h} \"\";");
        }
    }
    s.push_str(concat!(
        "        proxy_set_header Host $host;\n",
        "        proxy_set_header X-Real-IP $remote_addr;\n",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n",
        "        proxy_set_header X-Forwarded-Proto $scheme;\n",
    ));
    let _ = writeln!(s, "        proxy_pass {upstream};");
    s.push_str("    }\n");
    s
}

fn nginx(opts: &Options, upstream: &str) -> String {
    let mut s = format!("# Generated by: {}\n", command_line(opts));
    let auth = NGINX_AUTH_LOCATIONS.replace("USHER", opts.usher());
    match opts.mode {
        Mode::Subdomain => {
            let _ = writeln!(
                s,
                "# {app} on its own host. In Usher set public_url (its sign-in page, e.g.\n\
                 # https://usher.{d}) and cookie_domain = {d}, and allow the redirect back.\n\
                 server {{\n    listen 80;  # add your TLS lines (listen 443 ssl; ssl_certificate ...)\n    server_name {host};\n",
                app = opts.app,
                d = opts.domain,
                host = opts.host()
            );
            s.push_str(&auth);
            s.push('\n');
            s.push_str(&nginx_app_location(opts, "/", upstream));
            s.push_str("}\n");
        }
        Mode::Subdirectory => {
            let _ = writeln!(
                s,
                "# {app} at /{app}/ on Usher's host. Goes inside that server {{ }} block, which also\n\
                 # passes / to Usher (its sign-in page and cookie then cover the app). Set the app's\n\
                 # URL base to /{app}. The two Usher locations are needed once per server block.\n",
                app = opts.app
            );
            s.push_str(&auth);
            s.push('\n');
            s.push_str(&nginx_app_location(
                opts,
                &format!("/{}/", opts.app),
                upstream,
            ));
        }
    }
    s
}

/// Marker between the Plex block and the contents of its proxy.conf.
pub const PROXY_CONF_MARKER: &str = "# ---- proxy.conf ----";

const PLEX_PROXY_CONF: &str = "client_max_body_size 10m;
client_body_buffer_size 128k;
proxy_bind $server_addr;
proxy_buffers 32 4k;
#Timeout if the real server is dead
proxy_next_upstream error timeout invalid_header http_500 http_502 http_503;
# Advanced Proxy Config
send_timeout 5m;
proxy_read_timeout 240;
proxy_send_timeout 240;
proxy_connect_timeout 240;
proxy_hide_header X-Frame-Options;
# Basic Proxy Config
proxy_set_header Host $host:$server_port;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Proto https;
proxy_redirect  http://  $scheme://;
proxy_http_version 1.1;
proxy_set_header Connection \"\";
proxy_no_cache $cookie_session;
proxy_set_header Upgrade $http_upgrade;
proxy_set_header Connection \"upgrade\";
";

/// The seed's Plex sub-directory block (Plex SSO needs Plex on Usher's origin) and its
/// proxy.conf. Plex is not behind auth_request: its apps sign in with their own Plex token.
fn nginx_plex(opts: &Options, upstream: &str) -> String {
    format!(
        "# Generated by: {cmd}\n\
         # Plex at /plex/ on Usher's host, inside the same server {{ }} block (Plex SSO only works\n\
         # from a subdirectory). Save the second part as proxy.conf and fix the include path.\n\
         location /plex/ {{\n  proxy_pass {upstream}/;\n  include /path/to/proxy.conf;\n}}\n\
         if ($http_referer ~ /plex/) {{\n  rewrite ^/web/(.*) /plex/web/$1? redirect;\n}}\n\
         {PROXY_CONF_MARKER}\n{PLEX_PROXY_CONF}",
        cmd = command_line(opts)
    )
}

fn caddy_copy_headers(opts: &Options) -> String {
    let mut names = Vec::new();
    if opts.header_auth {
        names.extend([
            "X-Organizr-User>X-WEBAUTH-USER",
            "X-Organizr-Email>X-WEBAUTH-EMAIL",
            "X-Organizr-Group>X-WEBAUTH-GROUP",
        ]);
    }
    names.extend([
        "Remote-User",
        "Remote-Email",
        "Remote-Groups",
        "Remote-Name",
    ]);
    names.join(" ")
}

fn indent(text: &str, tabs: usize) -> String {
    let pad = "\t".repeat(tabs);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// Headers Caddy's `copy_headers` always sets (so they need no stripping).
fn copied_by_caddy(header: &str, header_auth: bool) -> bool {
    header.starts_with("Remote-") || (header_auth && header.starts_with("X-WEBAUTH"))
}

fn caddy(opts: &Options, upstream: &str) -> String {
    let mut s = format!("# Generated by: {}\n", command_line(opts));
    // Identity headers are set by copy_headers (Usher always sends them on a pass, empty when
    // anonymous); the others a client might send are dropped on the way to the app.
    let strip: String = IDENTITY_HEADERS
        .iter()
        .filter(|h| copied_by_caddy(h, opts.header_auth).not())
        .map(|h| format!("\theader_up -{h}\n"))
        .collect();
    let handler = format!(
        "forward_auth {usher} {{\n\
         \turi /api/v2/auth/{group}?redirect=1\n\
         \theader_up X-Real-IP {{remote_host}}\n\
         \tcopy_headers {copy}\n\
         }}\n\
         reverse_proxy {upstream} {{\n{strip}}}\n",
        usher = opts.usher_authority(),
        group = opts.group,
        copy = caddy_copy_headers(opts),
    );
    match opts.mode {
        Mode::Subdomain => {
            let _ = write!(
                s,
                "# {app} on its own host. In Usher set public_url (e.g. https://usher.{d}) and\n\
                 # cookie_domain = {d}; trust Caddy's address in trusted_proxies.\n\
                 {host} {{\n{body}}}\n",
                app = opts.app,
                d = opts.domain,
                host = opts.host(),
                body = indent(&handler, 1),
            );
        }
        Mode::Subdirectory => {
            let _ = write!(
                s,
                "# {app} at /{app}/ on Usher's host; everything else on that host is Usher (its\n\
                 # sign-in page and cookie then cover the app). Set the app's URL base to /{app}.\n\
                 {host} {{\n\thandle /{app}/* {{\n{body}\t}}\n\thandle {{\n\t\treverse_proxy {usher}\n\t}}\n}}\n",
                app = opts.app,
                host = opts.host(),
                body = indent(&handler, 2),
                usher = opts.usher_authority(),
            );
        }
    }
    s
}

fn traefik(opts: &Options, upstream: &str) -> String {
    let app = &opts.app;
    let mw = format!("usher-{}", opts.group);
    let rule = match opts.mode {
        Mode::Subdomain => format!("Host(`{}`)", opts.host()),
        Mode::Subdirectory => format!("Host(`{}`) && PathPrefix(`/{app}`)", opts.host()),
    };
    let address = format!("{}/api/v2/auth/{}?redirect=1", opts.usher(), opts.group);
    let response_headers = "Remote-User,Remote-Email,Remote-Groups,Remote-Name,X-Organizr-User,X-Organizr-Email,X-Organizr-Group";
    let strip: Vec<&str> = IDENTITY_HEADERS
        .iter()
        .copied()
        .filter(|h| h.starts_with("X-WEBAUTH"))
        .collect();
    let port = url::Url::parse(upstream)
        .ok()
        .and_then(|u| u.port_or_known_default())
        .unwrap_or(80);
    let mut s = format!(
        "# Generated by: {cmd}\n\
         # Traefik cannot rename headers: apps read Remote-User (set header_name = Remote-User).\n\
         # Client-sent X-WEBAUTH-* are removed; Remote-*/X-Organizr-* are overwritten by Usher's.\n\
         # 1) File provider (dynamic configuration):\n\
         http:\n  routers:\n    {app}:\n      rule: \"{rule}\"\n      middlewares:\n        - {mw}\n        - usher-strip-identity\n      service: {app}\n\
         \x20 middlewares:\n    {mw}:\n      forwardAuth:\n        address: \"{address}\"\n        authResponseHeaders:\n",
        cmd = command_line(opts)
    );
    for h in response_headers.split(',') {
        let _ = writeln!(s, "          - {h}");
    }
    s.push_str("    usher-strip-identity:\n      headers:\n        customRequestHeaders:\n");
    for h in &strip {
        let _ = writeln!(s, "          {h}: \"\"");
    }
    let _ = write!(
        s,
        "  services:\n    {app}:\n      loadBalancer:\n        servers:\n          - url: \"{upstream}\"\n\
         ---\n\
         # 2) The same as Docker labels (docker-compose service of the app):\n\
         services:\n  {app}:\n    labels:\n\
         \x20     - \"traefik.enable=true\"\n\
         \x20     - \"traefik.http.routers.{app}.rule={rule}\"\n\
         \x20     - \"traefik.http.routers.{app}.middlewares={mw},usher-strip-identity\"\n\
         \x20     - \"traefik.http.middlewares.{mw}.forwardauth.address={address}\"\n\
         \x20     - \"traefik.http.middlewares.{mw}.forwardauth.authResponseHeaders={response_headers}\"\n"
    );
    for h in &strip {
        let _ = writeln!(
            s,
            "      - \"traefik.http.middlewares.usher-strip-identity.headers.customrequestheaders.{h}=\""
        );
    }
    let _ = writeln!(
        s,
        "      - \"traefik.http.services.{app}.loadbalancer.server.port={port}\""
    );
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
