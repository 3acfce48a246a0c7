//! Headless Chromium through real nginx and Caddy running `usher proxy-config` output: a
//! protected page sends the browser to Usher's sign-in page, and signing in brings it back to
//! the original URL with the identity headers set. Screenshots in target/test-artifacts/.

use usher::proxy_config::{Mode, Proxy};

use crate::e2e_proxies::{nginx_wrap, snippet};
use crate::support::browser::Browser;
use crate::support::caddy::Caddy;
use crate::support::echo::spawn_echo;
use crate::support::nginx::Nginx;
use crate::support::{TestApp, PASSWORD};

/// Opens `start` (a protected page), signs in as alice on the page it lands on and checks the
/// app then sees alice at exactly `start`.
async fn sign_in_and_return(browser: &Browser, start: &str, label: &str) {
    browser.goto(start).await;
    let login = browser.wait_for_url(|u| u.contains("/login?rd=")).await;
    let expected_rd: String = url::form_urlencoded::byte_serialize(start.as_bytes()).collect();
    assert!(
        login.ends_with(&format!("rd={expected_rd}")),
        "{label}: {login}"
    );
    browser.screenshot(&format!("{label}-login")).await;
    browser.fill("input[name=username]", "alice").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_url(|u| u == start).await;
    let text = browser.wait_for_text("x-webauth-user").await;
    browser.screenshot(&format!("{label}-back-at-app")).await;
    assert!(
        text.contains(r#""x-webauth-user":"alice""#),
        "{label}: {text}"
    );
    assert!(text.contains(r#""x-webauth-group":"4""#), "{label}: {text}");
    assert!(text.contains(r#""query":"x=1&y=two""#), "{label}: {text}");
}

#[tokio::test]
async fn browser_signs_in_through_nginx_and_returns_to_the_original_url() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let (echo, _task) = spawn_echo().await;
    let usher = format!("http://{}", app.addr);
    let s = snippet(
        Proxy::Nginx,
        "media",
        4,
        Mode::Subdirectory,
        &format!("http://{echo}"),
        &usher,
    );
    let conf = nginx_wrap(
        &s,
        Mode::Subdirectory,
        "media",
        std::path::Path::new("/nonexistent"),
    )
    .replace("127.0.0.1:8420", &app.addr.to_string());
    let nginx = Nginx::start(&conf).await;
    let browser = Browser::start().await;
    sign_in_and_return(&browser, &nginx.url("/media/page?x=1&y=two"), "nginx").await;
    browser.close().await;
}

#[tokio::test]
async fn browser_signs_in_through_caddy_forward_auth_and_returns_to_the_original_url() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let (echo, _task) = spawn_echo().await;
    let usher = format!("http://{}", app.addr);
    let s = snippet(
        Proxy::Caddy,
        "media",
        4,
        Mode::Subdirectory,
        &format!("http://{echo}"),
        &usher,
    );
    let conf = s.replace("example.com {", "http://127.0.0.1:{{PORT}} {");
    let caddy = Caddy::start(&conf).await;
    let browser = Browser::start().await;
    sign_in_and_return(&browser, &caddy.url("/media/page?x=1&y=two"), "caddy").await;
    browser.close().await;
}
