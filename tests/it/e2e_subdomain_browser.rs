//! Subdomain mode in a real browser: Usher's sign-in page on its own host, a protected app on
//! another (`usher proxy-config --mode subdomain` in nginx, on a non-standard port, host names
//! mapped to 127.0.0.1 by Chromium's resolver rules). Signing in on Usher's page must land the
//! person on the app, signed in — across origins, under CSP `form-action 'self'`.

use serde_json::json;

use crate::api_login::set_settings;
use crate::proxy_config::run_cli;
use crate::support::browser::Browser;
use crate::support::echo::spawn_echo;
use crate::support::nginx::Nginx;
use crate::support::{TestApp, PASSWORD};

/// The domain the hosts live under; Chromium resolves every host in it to 127.0.0.1.
const DOMAIN: &str = "usher.test";

/// Usher's own host: everything to Usher, with the host and port the browser used.
fn usher_server(usher: &str) -> String {
    format!(
        r#"server {{
    listen 127.0.0.1:{{{{PORT}}}};
    server_name login.{DOMAIN};
    set $usher_host $host;
    if ($http_host ~ "(:[0-9]+)$") {{
        set $usher_host $host$1;
    }}
    location / {{
        proxy_pass {usher};
        proxy_set_header Host $usher_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }}
}}
"#
    )
}

#[tokio::test]
async fn signing_in_on_usher_host_lands_on_the_app_host_signed_in() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let (echo, _echo_task) = spawn_echo().await;
    let usher = format!("http://{}", app.addr);
    let (ok, snippet, err) = run_cli(&[
        "proxy-config",
        "--proxy",
        "nginx",
        "--mode",
        "subdomain",
        "--domain",
        DOMAIN,
        "--usher",
        &usher,
        "--app",
        &format!("media,upstream=http://{echo},header-auth"),
    ]);
    assert!(ok, "{err}");
    assert!(
        snippet.contains(&format!("server_name media.{DOMAIN};")),
        "{snippet}"
    );
    let sites = format!(
        "{}{}",
        usher_server(&usher),
        snippet.replace("listen 80;", "listen 127.0.0.1:{{PORT}};")
    );
    let nginx = Nginx::start(&sites).await;
    let port = nginx.port();
    // As the snippet's comment says: public_url for the sign-in page, cookie_domain for the apps.
    let public = format!("http://login.{DOMAIN}:{port}");
    set_settings(&app, json!({"public_url": public, "cookie_domain": DOMAIN})).await;

    let browser =
        Browser::start_with(&[&format!("--host-resolver-rules=MAP *.{DOMAIN} 127.0.0.1")]).await;
    let start = format!("http://media.{DOMAIN}:{port}/page?x=1");
    browser.goto(&start).await;
    let login = browser.wait_for_url(|u| u.contains("/login?rd=")).await;
    let rd: String = url::form_urlencoded::byte_serialize(start.as_bytes()).collect();
    assert_eq!(
        login,
        format!("{public}/login?rd={rd}"),
        "{}",
        nginx.error_log()
    );
    browser.screenshot("subdomain-login").await;
    browser.fill("input[name=username]", "alice").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_url(|u| u == start).await;
    let text = browser.wait_for_text("x-webauth-user").await;
    browser.screenshot("subdomain-back-at-app").await;
    assert!(text.contains(r#""x-webauth-user":"alice""#), "{text}");
    assert!(text.contains(r#""query":"x=1""#), "{text}");
    browser.close().await;
}
