//! Usher and several apps behind one proxy on a non-standard port, each app in a subdirectory
//! (one with another name than the app's), exactly as `usher proxy-config` and the portal's
//! "Add these apps to nginx" box print them: pasted as is, nginx (and Caddy) accept it, every
//! redirect keeps the port, and a header-auth app at /books signs the person in.

use reqwest::header::{ACCEPT, LOCATION};
use serde_json::{json, Value};

use crate::proxy_config::{run_cli, subdirectory_snippet};
use crate::support::caddy::Caddy;
use crate::support::echo::spawn_echo;
use crate::support::nginx::{nginx_test_http_block, Nginx};
use crate::support::process::free_port;
use crate::support::{TestApp, PASSWORD};

/// Usher with alice, the echo app, and `usher proxy-config` for Calibre-Web at /books (header
/// auth) and Tautulli at /tautulli, both answered by the echo app.
async fn two_apps(proxy: &str) -> (TestApp, tokio::task::JoinHandle<()>, String) {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let (echo, task) = spawn_echo().await;
    let out = subdirectory_snippet(proxy, app.addr, &books_and_tautulli(echo), &[]);
    (app, task, out)
}

/// Calibre-Web at /books (header auth) and Tautulli, both answered by the echo app at `echo`.
fn books_and_tautulli(echo: std::net::SocketAddr) -> [String; 2] {
    [
        format!("calibre-web,path=/books,upstream=http://{echo},header-auth"),
        format!("tautulli,upstream=http://{echo}"),
    ]
}

/// The output pasted as printed into one server block.
fn in_one_server(snippet: &str) -> String {
    format!("server {{\n    listen 127.0.0.1:{{{{PORT}}}};\n{snippet}}}\n")
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs `name` in through the proxy at `base` (Usher at /), keeping the cookie in `c`.
async fn sign_in(c: &reqwest::Client, base: &str, name: &str) {
    let r = c
        .post(format!("{base}/api/v2/login"))
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "sign-in through the proxy");
}

async fn location(c: &reqwest::Client, url: &str) -> (u16, String) {
    let r = c.get(url).header(ACCEPT, "text/html").send().await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location)
}

/// What the signed-in person's request reaches the echo app with.
async fn seen_by_app(c: &reqwest::Client, url: &str) -> Value {
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json::<Value>().await.unwrap()
}

/// Everything a person meets through the proxy at `base` (port `port`).
async fn journey(base: &str, port: u16, log: impl Fn() -> String) {
    let c = no_redirects();
    let host = format!("127.0.0.1:{port}");
    // Not signed in: to Usher's sign-in page on the same host and port, and back afterwards.
    let (status, to) = location(&c, &format!("{base}/books/shelf?x=1")).await;
    assert_eq!(status, 302, "{}", log());
    assert!(
        to.contains(&format!(
            "rd=http%3A%2F%2F127.0.0.1%3A{port}%2Fbooks%2Fshelf"
        )),
        "{to}"
    );
    assert!(
        !to.contains("127.0.0.1/") && !to.contains("%2F127.0.0.1%2F"),
        "{to}"
    );

    sign_in(&c, base, "alice").await;
    for app in ["books", "tautulli"] {
        // The app builds its redirect from the Host it got: the port must be in it.
        let (status, to) = location(&c, &format!("{base}/{app}/redirect")).await;
        assert_eq!(status, 302, "{app}: {}", log());
        assert_eq!(to, format!("http://{host}/{app}/auth/login"), "{app}");
        // The subdirectory without its slash goes to it, port kept.
        let (status, to) = location(&c, &format!("{base}/{app}")).await;
        assert!([301, 302, 308].contains(&status), "{app}: {status}");
        // Absolute with the port (nginx), or relative (Caddy): the browser keeps the port.
        let kept = to.ends_with(&format!("{host}/{app}/")) || to == format!("/{app}/");
        assert!(kept, "{app}: {to}");
    }
    let books = seen_by_app(&c, &format!("{base}/books/shelf")).await;
    assert_eq!(books["path"], "/books/shelf");
    assert_eq!(books["headers"]["x-webauth-user"], "alice", "{books}");
    assert_eq!(books["headers"]["x-script-name"], "/books", "{books}");
    assert_eq!(books["headers"]["host"], host.as_str());
    let tautulli = seen_by_app(&c, &format!("{base}/tautulli/home")).await;
    assert_eq!(tautulli["headers"]["host"], host.as_str());
    assert!(
        tautulli["headers"].get("x-webauth-user").is_none(),
        "{tautulli}"
    );
    assert!(
        tautulli["headers"].get("x-script-name").is_none(),
        "{tautulli}"
    );
}

#[tokio::test]
async fn two_apps_in_subdirectories_paste_into_one_nginx_server_and_keep_the_port() {
    let (_app, _echo, snippet) = two_apps("nginx").await;
    assert_eq!(snippet.matches("location / {").count(), 1, "{snippet}");
    assert_eq!(snippet.matches("location ^~ /usher-auth/").count(), 1);
    assert!(!snippet.contains("Host $host;"), "{snippet}");
    let nginx = Nginx::start(&in_one_server(&snippet)).await;
    journey(&nginx.url(""), nginx.port(), || nginx.error_log()).await;
}

#[tokio::test]
async fn two_apps_in_subdirectories_through_caddy_keep_the_port() {
    let (_app, _echo, snippet) = two_apps("caddy").await;
    let caddy =
        Caddy::start(&snippet.replace("example.com {", "http://127.0.0.1:{{PORT}} {")).await;
    journey(&caddy.url(""), caddy.port(), || caddy.log()).await;
}

/// The text of the portal's nginx box, as the admin copies it from the page.
fn box_text(html: &str) -> String {
    let start = html.find("<pre>").expect("the box has a block") + "<pre>".len();
    let end = start + html[start..].find("</pre>").unwrap();
    html[start..end]
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn the_portal_box_for_the_tabs_as_they_are_pastes_whole_into_nginx() {
    // The box names the address Usher listens on: a real port, so the paste needs no edit.
    let listen = format!("127.0.0.1:{}", free_port());
    let app = TestApp::spawn_with(|c| c.listen = listen.parse().unwrap()).await;
    let admin = app.signed_in("root", 0).await;
    for tab in [
        json!({"name": "Calibre-Web", "url": "/books/", "group_id": 4}),
        json!({"name": "Tautulli", "url": "/tautulli/home", "group_id": 1}),
        json!({"name": "Grafana", "url": "/grafana/", "group_id": 4}),
        json!({"name": "Wiki", "url": "/wiki/", "group_id": 4, "type": "new_window"}),
        json!({"name": "Requests", "url": "https://ombi.example.com/", "group_id": 4}),
    ] {
        let r = admin
            .post(app.url("/api/v2/tabs"))
            .json(&tab)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{tab}");
    }
    let (_, html, _) = crate::ui_pages::get(&admin, &app, "/").await;
    let pasted = box_text(&html);
    // Each app where its tab is, header auth for the apps that sign people in from it.
    for line in [
        "location /books/ {",
        "proxy_set_header X-Script-Name /books;",
        "proxy_pass http://127.0.0.1:8083;",
        "location /tautulli/ {",
        "auth_request /usher-auth/1;",
        "location /grafana/ {",
        "location /wiki/ {",
        "# Change http://127.0.0.1:8080 (proxy_pass of wiki) to where the app listens.",
    ] {
        assert!(pasted.contains(line), "{line}:\n{pasted}");
    }
    assert!(!pasted.contains("/calibre-web/"), "{pasted}");
    assert_eq!(
        pasted
            .matches("proxy_set_header X-WEBAUTH-USER  $usher_user;")
            .count(),
        2
    );
    assert_eq!(pasted.matches("location ^~ /usher-auth/").count(), 1);
    assert!(
        html.contains(&format!(
            "usher proxy-config --proxy nginx --app ombi --group 4 --mode subdomain --usher http://{listen}<"
        )),
        "{html}"
    );

    assert!(
        pasted.contains(&format!("proxy_pass http://{listen};")),
        "{pasted}"
    );
    let served = in_one_server(&pasted);
    nginx_test_http_block(&served).unwrap_or_else(|e| panic!("nginx -t: {e}\n{served}"));
    let nginx = Nginx::start(&served).await;
    let c = no_redirects();
    let r = c.get(nginx.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 200, "Usher at /: {}", nginx.error_log());
    let (status, to) = location(&c, &nginx.url("/books/")).await;
    assert_eq!(status, 302, "{}", nginx.error_log());
    assert!(
        to.contains(&format!("127.0.0.1%3A{}%2Fbooks%2F", nginx.port())),
        "{to}"
    );
}

/// Usher's own Plex sign-in pages (`/plex/start`, `/plex/return`) live under `/plex/` too: with
/// Plex in the same server they still reach Usher, and the rest of /plex/ reaches Plex.
#[tokio::test]
async fn usher_plex_pages_reach_usher_beside_plex() {
    let app = TestApp::spawn().await;
    let (echo, _task) = spawn_echo().await;
    let direct = reqwest::get(app.url("/plex/start?rd=%2F")).await.unwrap();
    let (direct_status, direct_body) = (direct.status(), direct.text().await.unwrap());
    for proxy in ["nginx", "caddy"] {
        let out = subdirectory_snippet(
            proxy,
            app.addr,
            &[format!("plex,upstream=http://{echo}")],
            &[],
        );
        let dir = tempfile::tempdir().unwrap();
        let (nginx, caddy) = if proxy == "nginx" {
            let conf = crate::e2e_proxies::nginx_wrap(
                &out,
                usher::proxy_config::Mode::Subdirectory,
                "plex",
                dir.path(),
            );
            (Some(Nginx::start(&conf).await), None)
        } else {
            let sites = out.replace("example.com {", "http://127.0.0.1:{{PORT}} {");
            (None, Some(Caddy::start(&sites).await))
        };
        let url = |path: &str| match (&nginx, &caddy) {
            (Some(n), _) => n.url(path),
            (_, Some(c)) => c.url(path),
            _ => unreachable!(),
        };
        let c = no_redirects();
        let r = c.get(url("/plex/start?rd=%2F")).send().await.unwrap();
        assert_eq!(r.status(), direct_status, "{proxy}");
        assert_eq!(
            r.text().await.unwrap(),
            direct_body,
            "{proxy}: Usher's page"
        );
        if proxy == "nginx" {
            let plex = seen_by_app(&c, &url("/plex/web/index.html")).await;
            assert_eq!(plex["path"], "/web/index.html", "{plex}");
        }
    }
}

/// `usher proxy-config nginx --keepalive`: the part before the marker pasted at http level, the
/// rest into the server block, both as printed. The same journey works, and nginx asks Usher
/// over the connections it keeps: a relay in front of Usher counts them.
#[tokio::test]
async fn with_keepalive_nginx_asks_usher_over_kept_connections() {
    use crate::support::tcp_cut::TcpCut;
    use usher::proxy_config::HTTP_LEVEL_MARKER;

    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let (echo, _echo) = spawn_echo().await;
    let relay = TcpCut::start(app.addr).await;
    let snippet = subdirectory_snippet(
        "nginx",
        relay.addr,
        &books_and_tautulli(echo),
        &["--keepalive"],
    );
    let (http_level, server_part) = snippet
        .split_once(HTTP_LEVEL_MARKER)
        .expect("the http-level part is marked");
    assert!(http_level.contains("keepalive 16;"), "{snippet}");
    let nginx = Nginx::start(&format!("{http_level}\n{}", in_one_server(server_part))).await;
    let base = nginx.url("");
    journey(&base, nginx.port(), || nginx.error_log()).await;

    // Signed in (by the journey's own client): 20 protected requests, one auth subrequest each.
    let c = no_redirects();
    sign_in(&c, &base, "alice").await;
    let before = relay.connections();
    for i in 0..20 {
        let books = seen_by_app(&c, &format!("{base}/books/page{i}")).await;
        assert_eq!(books["headers"]["x-webauth-user"], "alice", "{books}");
    }
    let opened = relay.connections() - before;
    assert!(
        opened <= 2,
        "nginx opened {opened} connections to Usher for 20 protected requests (kept: at most 2)"
    );
}

#[test]
fn keepalive_is_for_nginx_only() {
    for proxy in ["caddy", "traefik"] {
        let (ok, _, err) = run_cli(&[
            "proxy-config",
            "--proxy",
            proxy,
            "--app",
            "tautulli",
            "--keepalive",
        ]);
        assert!(!ok, "{proxy}");
        assert!(err.contains("--keepalive is for nginx"), "{proxy}: {err}");
    }
}

/// In subdomain mode every part is at http level already: the `upstream` comes first, no marker,
/// and nginx takes the whole output as printed.
#[test]
fn with_keepalive_in_subdomain_mode_the_whole_output_loads_at_http_level() {
    let (ok, out, err) = run_cli(&[
        "proxy-config",
        "--proxy",
        "nginx",
        "--app",
        "tautulli",
        "--app",
        "grafana",
        "--keepalive",
    ]);
    assert!(ok, "{err}");
    assert!(
        !out.contains(usher::proxy_config::HTTP_LEVEL_MARKER),
        "{out}"
    );
    assert_eq!(out.matches("upstream usher_auth {").count(), 1, "{out}");
    assert_eq!(
        out.matches("proxy_pass http://usher_auth/api/v2/auth/;")
            .count(),
        2,
        "{out}"
    );
    let conf = out.replace("listen 80;", "listen 127.0.0.1:{{PORT}};");
    nginx_test_http_block(&conf).unwrap_or_else(|e| panic!("nginx -t: {e}\n{conf}"));
}
