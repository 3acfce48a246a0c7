//! `usher proxy-config` output loaded into the real nginx and Caddy (Debian packages), in
//! front of an echo app, with protected apps for groups 0, 4, 998 and 999: who passes, which
//! identity arrives, that client-sent identity never does, and the sign-in redirect.

use reqwest::header::{ACCEPT, HOST, LOCATION};
use serde_json::{json, Value};
use usher::proxy_config::{generate, Mode, Options, Proxy};

use crate::api_login::set_settings;
use crate::support::caddy::Caddy;
use crate::support::echo::spawn_echo;
use crate::support::nginx::Nginx;
use crate::support::{TestApp, PASSWORD};

pub(crate) const GROUPS: [i64; 4] = [0, 4, 998, 999];

/// The generator's output for one app, as the CLI prints it.
pub(crate) fn snippet(
    proxy: Proxy,
    app: &str,
    group: i64,
    mode: Mode,
    upstream: &str,
    usher: &str,
) -> String {
    generate(&Options {
        proxy,
        app: app.into(),
        upstream: Some(upstream.into()),
        group,
        mode,
        header_auth: true,
        usher: usher.into(),
        domain: "example.com".into(),
    })
    .expect("snippet")
}

/// Usher, an echo app, and one proxy with apps g0, g4, g998, g999 on their own host names.
pub(crate) struct Stack {
    pub app: TestApp,
    pub nginx: Option<Nginx>,
    pub caddy: Option<Caddy>,
    _echo: tokio::task::JoinHandle<()>,
}

impl Stack {
    pub(crate) fn url(&self, path: &str) -> String {
        match (&self.nginx, &self.caddy) {
            (Some(n), _) => n.url(path),
            (_, Some(c)) => c.url(path),
            _ => unreachable!(),
        }
    }

    pub(crate) fn proxy_log(&self) -> String {
        match (&self.nginx, &self.caddy) {
            (Some(n), _) => n.error_log(),
            (_, Some(c)) => c.log(),
            _ => unreachable!(),
        }
    }
}

pub(crate) async fn group_stack(proxy: Proxy) -> Stack {
    let app = TestApp::spawn().await;
    let (echo, echo_task) = spawn_echo().await;
    let upstream = format!("http://{echo}");
    let usher = format!("http://{}", app.addr);
    let mut sites = String::new();
    for g in GROUPS {
        let s = snippet(
            proxy,
            &format!("g{g}"),
            g,
            Mode::Subdomain,
            &upstream,
            &usher,
        );
        let s = match proxy {
            Proxy::Nginx => s.replace("listen 80;", "listen 127.0.0.1:{{PORT}};"),
            _ => s.replace(
                &format!("g{g}.example.com {{"),
                &format!("http://g{g}.example.com:{{{{PORT}}}} {{"),
            ),
        };
        sites.push_str(&s);
    }
    let (nginx, caddy) = match proxy {
        Proxy::Nginx => (Some(Nginx::start(&sites).await), None),
        _ => (None, Some(Caddy::start(&sites).await)),
    };
    set_settings(
        &app,
        json!({"public_url": "https://usher.example.com", "cookie_domain": "example.com"}),
    )
    .await;
    Stack {
        app,
        nginx,
        caddy,
        _echo: echo_task,
    }
}

/// Signs in directly at Usher and returns the session cookie's `name=value`.
pub(crate) async fn session_cookie(app: &TestApp, name: &str, group: i64) -> String {
    app.add_user(name, group).await;
    let r = app.login(&app.client(), name, PASSWORD).await;
    assert_eq!(r.status(), 200);
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

/// One request through the proxy: status, Location, and the headers the app received.
pub(crate) struct Seen {
    pub status: u16,
    pub location: Option<String>,
    pub app_headers: Value,
}

pub(crate) async fn through(
    s: &Stack,
    host: &str,
    path: &str,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> Seen {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client.get(s.url(path)).header(HOST, host);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("request through the proxy");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_string());
    let app_headers = if status == 200 {
        r.json::<Value>()
            .await
            .map(|b| b["headers"].clone())
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    Seen {
        status,
        location,
        app_headers,
    }
}

/// An identity header as the app saw it: absent and empty are the same (nobody).
fn seen(headers: &Value, name: &str) -> String {
    headers
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

const FORGED: &[(&str, &str)] = &[
    ("X-WEBAUTH-USER", "mallory"),
    ("Remote-User", "mallory"),
    ("X-Organizr-User", "mallory"),
    ("X-WEBAUTH-GROUP", "0"),
];

/// Where Usher sends a page load of `http://HOST/page?a=1&b=2` by nobody signed in.
fn login_for(host: &str) -> String {
    let rd = format!("http%3A%2F%2F{host}%2Fpage%3Fa%3D1%26b%3D2");
    format!("https://usher.example.com/login?rd={rd}")
}

async fn groups_matrix(proxy: Proxy) {
    let s = group_stack(proxy).await;
    let users = [
        ("root", 0, session_cookie(&s.app, "root", 0).await),
        ("alice", 4, session_cookie(&s.app, "alice", 4).await),
        ("gus", 999, session_cookie(&s.app, "gus", 999).await),
    ];
    for g in GROUPS {
        let host = format!("g{g}.example.com");
        for (name, group, cookie) in &users {
            let r = through(&s, &host, "/page?a=1", Some(cookie), FORGED).await;
            let ctx = format!("{proxy:?} {name} (group {group}) at group {g}");
            if *group <= g {
                assert_eq!(r.status, 200, "{ctx}\n{}", s.proxy_log());
                assert_eq!(seen(&r.app_headers, "x-webauth-user"), *name, "{ctx}");
                assert_eq!(
                    seen(&r.app_headers, "x-webauth-group"),
                    group.to_string(),
                    "{ctx}"
                );
                assert_eq!(
                    seen(&r.app_headers, "x-webauth-email"),
                    format!("{name}@example.com"),
                    "{ctx}"
                );
                assert!(
                    ["", *name].contains(&seen(&r.app_headers, "remote-user").as_str()),
                    "{ctx}"
                );
                assert_eq!(seen(&r.app_headers, "x-organizr-user"), "", "{ctx}");
            } else {
                assert_eq!(r.status, 401, "{ctx}");
            }
        }
        // Nobody signed in: only group 999 passes, with no identity at all.
        let ctx = format!("{proxy:?} anonymous at group {g}");
        let page = through(
            &s,
            &host,
            "/page?a=1&b=2",
            None,
            &[FORGED, &[(ACCEPT.as_str(), "text/html,*/*")]].concat(),
        )
        .await;
        let xhr = through(
            &s,
            &host,
            "/api/x",
            None,
            &[
                (ACCEPT.as_str(), "text/html"),
                ("X-Requested-With", "XMLHttpRequest"),
            ],
        )
        .await;
        if g == 999 {
            assert_eq!(page.status, 200, "{ctx}");
            for h in [
                "x-webauth-user",
                "x-webauth-email",
                "x-webauth-group",
                "remote-user",
                "x-organizr-user",
            ] {
                assert_eq!(
                    seen(&page.app_headers, h),
                    "",
                    "{ctx}: {h} in {}",
                    page.app_headers
                );
            }
            assert_eq!(xhr.status, 200, "{ctx}");
        } else {
            assert_eq!(page.status, 302, "{ctx}\n{}", s.proxy_log());
            assert_eq!(
                page.location.as_deref(),
                Some(login_for(&host).as_str()),
                "{ctx}"
            );
            assert_eq!(xhr.status, 401, "{ctx}: XHR gets no redirect");
        }
    }
    // A host outside the redirect allow-list gets no redirect, only the 401.
    set_settings(&s.app, json!({"cookie_domain": null})).await;
    let r = through(
        &s,
        "g4.example.com",
        "/",
        None,
        &[(ACCEPT.as_str(), "text/html")],
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.location, None);
}

#[tokio::test]
async fn nginx_generated_snippets_protect_groups_0_4_998_999() {
    groups_matrix(Proxy::Nginx).await;
}

#[tokio::test]
async fn caddy_generated_snippets_protect_groups_0_4_998_999() {
    groups_matrix(Proxy::Caddy).await;
}

/// Every app × mode × header-auth variant loads into the real proxy.
#[tokio::test]
async fn every_generated_snippet_passes_nginx_t_and_caddy_validate() {
    let apps = [
        "grafana",
        "nzbhydra2",
        "calibre-web",
        "tautulli",
        "ombi",
        "overseerr",
        "jellyfin",
        "plex",
    ];
    for app in apps {
        for mode in [Mode::Subdomain, Mode::Subdirectory] {
            if app == "plex" && mode == Mode::Subdomain {
                continue; // refused by the generator (tested in proxy_config)
            }
            for header_auth in [false, true] {
                let opts = Options {
                    proxy: Proxy::Nginx,
                    app: app.into(),
                    upstream: None,
                    group: 4,
                    mode,
                    header_auth,
                    usher: "http://127.0.0.1:8420".into(),
                    domain: "example.com".into(),
                };
                let nginx = generate(&opts).unwrap();
                let dir = tempfile::tempdir().unwrap();
                let conf = nginx_wrap(&nginx, mode, app, dir.path());
                if let Err(e) = crate::support::nginx::nginx_test_http_block(&conf) {
                    panic!("nginx -t failed for {app} {mode:?} {header_auth}:\n{e}\n{conf}");
                }
                let caddy = generate(&Options {
                    proxy: Proxy::Caddy,
                    ..opts
                })
                .unwrap();
                crate::support::caddy::caddy_validate(&caddy)
                    .unwrap_or_else(|e| panic!("caddy validate failed for {app} {mode:?}:\n{e}"));
            }
        }
    }
}

/// A subdirectory snippet goes inside a server block as it is; a subdomain one is a server
/// block already. Plex's proxy.conf is written into `dir`.
pub(crate) fn nginx_wrap(snippet: &str, mode: Mode, app: &str, dir: &std::path::Path) -> String {
    let snippet = if app == "plex" {
        let (block, conf) = snippet
            .split_once(usher::proxy_config::PROXY_CONF_MARKER)
            .expect("plex snippet has a proxy.conf part");
        let path = dir.join("proxy.conf");
        std::fs::write(&path, conf).unwrap();
        block.replace("/path/to/proxy.conf", path.to_str().unwrap())
    } else {
        snippet.to_string()
    };
    match mode {
        Mode::Subdomain => snippet.replace("listen 80;", "listen 127.0.0.1:{{PORT}};"),
        // The output carries Usher's `location /` itself: it goes into the server as printed.
        Mode::Subdirectory => {
            format!("server {{\n    listen 127.0.0.1:{{{{PORT}}}};\n{snippet}}}\n")
        }
    }
}

/// `--app plex`: the seed's subdirectory block and proxy.conf, running in nginx.
#[tokio::test]
async fn plex_subdirectory_block_runs_in_nginx() {
    let (echo, _task) = spawn_echo().await;
    let opts = Options {
        proxy: Proxy::Nginx,
        app: "plex".into(),
        upstream: Some(format!("http://{echo}")),
        group: 4,
        mode: Mode::Subdirectory,
        header_auth: false,
        usher: "http://127.0.0.1:8420".into(),
        domain: "example.com".into(),
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = nginx_wrap(
        &generate(&opts).unwrap(),
        Mode::Subdirectory,
        "plex",
        dir.path(),
    );
    let nginx = Nginx::start(&conf).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(nginx.url("/plex/web/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", nginx.error_log());
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["path"], "/web/index.html",
        "the /plex/ prefix is stripped"
    );
    assert_eq!(body["headers"]["x-forwarded-proto"], "https");
    // Plex's own /web links are sent back under /plex/ when they come from a Plex page.
    let r = client
        .get(nginx.url("/web/js/main.js"))
        .header("referer", nginx.url("/plex/web/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()[LOCATION]
        .to_str()
        .unwrap()
        .ends_with("/plex/web/js/main.js"));
}

/// Every known app at once in subdirectories (Plex and its proxy.conf among them), each where
/// its own `path=` puts it: the output goes into one nginx server as printed, and into Caddy.
#[tokio::test]
async fn all_apps_in_one_server_pass_nginx_t_and_caddy_validate() {
    use usher::proxy_config::{generate_site, Site};
    let apps = [
        "grafana,path=/graphs,header-auth",
        "nzbhydra2,path=/hydra,header-auth",
        "calibre-web,path=/books,header-auth",
        "tautulli,path=/stats,group=1",
        "ombi,path=/requests",
        "overseerr",
        "jellyfin,path=/tv,group=998",
        "plex",
    ];
    for proxy in [Proxy::Nginx, Proxy::Caddy] {
        let site = Site {
            proxy,
            mode: Mode::Subdirectory,
            usher: "http://127.0.0.1:8420".into(),
            domain: "example.com".into(),
            apps: apps.iter().map(|a| a.parse().unwrap()).collect(),
            keepalive: false,
        };
        let out = generate_site(&site).unwrap();
        match proxy {
            Proxy::Nginx => {
                assert_eq!(out.matches("location / {").count(), 1, "{out}");
                let dir = tempfile::tempdir().unwrap();
                let conf = nginx_wrap(&out, Mode::Subdirectory, "plex", dir.path());
                crate::support::nginx::nginx_test_http_block(&conf)
                    .unwrap_or_else(|e| panic!("nginx -t: {e}\n{conf}"));
            }
            _ => crate::support::caddy::caddy_validate(&out)
                .unwrap_or_else(|e| panic!("caddy validate: {e}\n{out}")),
        }
    }
}
