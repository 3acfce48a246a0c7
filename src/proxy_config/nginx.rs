//! nginx: `auth_request` with the `error_page 401 = @usher_login` sign-in redirect, and the
//! seed's Plex subdirectory block with its proxy.conf. Apps in subdirectories come with Usher's
//! `location /` and the shared lines once, so the output pastes into one server block as is;
//! every app gets the host with the port the browser used (`$usher_host`), never bare `$host`.

use std::fmt::Write as _;

use super::{Entry, Mode, Site, IDENTITY_HEADERS, USHER_PLEX_PAGES};

/// `$usher_host`: the host with the port the browser used, for Usher and every app.
const NGINX_USHER_HOST: &str = r#"    # The host nginx chose this server block by ($host: the request line's host when it has
    # one, else Host), plus the port the browser used, so the sign-in redirect and the apps'
    # own redirects keep it.
    set $usher_host $host;
    if ($http_host ~ "(:[0-9]+)$") {
        set $usher_host $host$1;
    }
"#;

/// The auth subrequest and the sign-in redirect, once per server block with protected apps.
const NGINX_AUTH_LOCATIONS: &str = r#"
    # Asked before every protected request; /usher-auth/N = "may this person pass at group N?".
    # The X-Forwarded-* lines tell Usher the original URL (for access rules and the sign-in
    # redirect) and replace anything a client sent under those names. No variables in
    # proxy_pass: a host name is then resolved at start-up and needs no `resolver`.
    location ^~ /usher-auth/ {
        internal;
        proxy_pass USHER/api/v2/auth/;AUTH_KEEPALIVE
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Method $request_method;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $usher_host;
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

/// Usher itself at `/` of the shared host: the portal, its sign-in page and API.
const NGINX_USHER_LOCATION: &str = r#"    location LOCATION {
        proxy_pass USHER;
        proxy_set_header Host $usher_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
"#;

fn nginx_app_location(app: &Entry, path: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "    location {path} {{");
    let _ = writeln!(s, "        auth_request /usher-auth/{};", app.group);
    s.push_str("        auth_request_set $usher_login $upstream_http_location;\n");
    s.push_str("        error_page 401 = @usher_login;\n");
    if app.header_auth {
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
        if !(app.header_auth && h.starts_with("X-WEBAUTH")) {
            let _ = writeln!(s, "        proxy_set_header {h} \"\";");
        }
    }
    s.push_str(concat!(
        "        # The host with the port the browser used, so the app's redirects keep it.\n",
        "        proxy_set_header Host $usher_host;\n",
        "        proxy_set_header X-Forwarded-Host $usher_host;\n",
        "        proxy_set_header X-Real-IP $remote_addr;\n",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n",
        "        proxy_set_header X-Forwarded-Proto $scheme;\n",
    ));
    if let Some(script_name) = app.script_name() {
        let _ = writeln!(s, "        proxy_set_header X-Script-Name {script_name};");
    }
    let _ = writeln!(s, "        proxy_pass {};", app.upstream);
    s.push_str("    }\n");
    s
}

/// Marker after the `upstream` block of `--keepalive` in subdirectory mode: what comes before it
/// goes at http level, what follows into the server block.
pub const HTTP_LEVEL_MARKER: &str =
    "# ---- end of the http-level part: what follows goes into the server block ----";

/// The name of the `upstream` that `--keepalive` adds.
const KEEPALIVE_UPSTREAM: &str = "usher_auth";

/// `--keepalive`: Usher as an `upstream` with idle connections kept for the auth subrequests.
fn nginx_keepalive_upstream(site: &Site) -> String {
    format!(
        "# Usher for the auth checks, with connections kept open (--keepalive). This block goes at\n\
         # http level, outside every server block: for example at the top of this site's file, or\n\
         # in conf.d/. Without it nginx opens a new connection to Usher for every protected request.\n\
         upstream {KEEPALIVE_UPSTREAM} {{\n    server {};\n    keepalive 16;\n}}\n",
        site.usher_authority()
    )
}

pub(super) fn nginx(site: &Site, apps: &[Entry]) -> String {
    let mut s = format!("# Generated by: {}\n", site.command_line());
    let auth_locations = if site.keepalive {
        let scheme = site.usher().split_once("://").map_or("http", |(s, _)| s);
        NGINX_AUTH_LOCATIONS
            .replace("USHER", &format!("{scheme}://{KEEPALIVE_UPSTREAM}"))
            .replace(
                "AUTH_KEEPALIVE",
                "\n        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";",
            )
    } else {
        NGINX_AUTH_LOCATIONS
            .replace("USHER", site.usher())
            .replace("AUTH_KEEPALIVE", "")
    };
    let auth = format!("{NGINX_USHER_HOST}{auth_locations}");
    if site.keepalive {
        s.push_str(&nginx_keepalive_upstream(site));
        if site.mode == Mode::Subdirectory {
            s.push_str(HTTP_LEVEL_MARKER);
        }
        s.push('\n');
    }
    match site.mode {
        Mode::Subdomain => {
            for app in apps {
                let _ = writeln!(
                    s,
                    "# {name} on its own host. In Usher set public_url (its sign-in page, e.g.\n\
                     # https://usher.{d}) and cookie_domain = {d}, and allow the redirect back.\n\
                     server {{\n    listen 80;  # add your TLS lines (listen 443 ssl; ssl_certificate ...)\n    server_name {host};\n",
                    name = app.name,
                    d = site.domain,
                    host = app.host(site)
                );
                s.push_str(&auth);
                s.push('\n');
                s.push_str(&nginx_app_location(app, "/"));
                s.push_str("}\n");
            }
        }
        Mode::Subdirectory => {
            let _ = writeln!(
                s,
                "# Usher and its apps on one host ({d}): paste all of {this}, as it is, into that\n\
                 # host's server {{ }} block (Usher's lines go once per server block). In the apps:",
                d = site.domain,
                this = if site.keepalive { "what follows" } else { "this" },
            );
            for app in apps {
                let _ = writeln!(s, "# - {}", app.subdirectory_advice());
            }
            s.push('\n');
            // Plex alone asks Usher nothing: the auth lines would name an unset $usher_login.
            if apps.iter().all(|a| a.is_plex()) {
                s.push_str(NGINX_USHER_HOST);
            } else {
                s.push_str(&auth);
            }
            s.push('\n');
            let usher_at = |location: &str| {
                NGINX_USHER_LOCATION
                    .replace("USHER", site.usher())
                    .replace("LOCATION", location)
            };
            s.push_str("    # Usher itself: the portal, its sign-in page and API (its cookie then covers the apps).\n");
            s.push_str(&usher_at("/"));
            for app in apps.iter().filter(|a| !a.is_plex()) {
                let _ = writeln!(
                    s,
                    "\n    # {name} at {path}/.\n    location = {path} {{\n        return 301 $scheme://$usher_host{path}/;\n    }}",
                    name = app.name,
                    path = app.path,
                );
                s.push_str(&nginx_app_location(app, &format!("{}/", app.path)));
            }
            if let Some(plex) = apps.iter().find(|a| a.is_plex()) {
                s.push_str("\n    # Usher's own Plex sign-in pages (without JavaScript) sit under /plex/: exact\n    # matches win over Plex's location.\n");
                for page in USHER_PLEX_PAGES {
                    s.push_str(&usher_at(&format!("= {page}")));
                }
                s.push('\n');
                s.push_str(&nginx_plex(plex));
            }
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

/// The seed's Plex sub-directory block (Plex SSO needs Plex on Usher's origin), then its
/// proxy.conf. Plex is not behind auth_request: its apps sign in with their own Plex token.
fn nginx_plex(plex: &Entry) -> String {
    format!(
        "# Plex at /plex/. Save the part after the marker below as proxy.conf and fix the\n\
         # include path.\n\
         location /plex/ {{\n  proxy_pass {upstream}/;\n  include /path/to/proxy.conf;\n}}\n\
         if ($http_referer ~ /plex/) {{\n  rewrite ^/web/(.*) /plex/web/$1? redirect;\n}}\n\
         {PROXY_CONF_MARKER}\n{PLEX_PROXY_CONF}",
        upstream = plex.upstream
    )
}
