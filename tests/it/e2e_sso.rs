//! Single sign-on end to end: real nginx serves Usher at `/`, Plex under `/plex/` with the seed's
//! location block and proxy.conf (as `usher proxy-config --app plex` prints them) in front of a
//! fake Plex Media Server, and Tautulli's browser path `/tautulli/`. Headless Chromium signs in
//! with a Plex friend's password, and then:
//! - Plex Web under `/plex/` finds `myPlexAccessToken` in its (= Usher's) origin's localStorage;
//! - the Tautulli cookie reaches `/tautulli/` and nothing else;
//! - signing out removes both.
//!
//! Screenshots in target/test-artifacts/.

use serde_json::json;
use usher::proxy_config::{generate, Mode, Options, Proxy, PROXY_CONF_MARKER};

use crate::e2e_proxies::nginx_wrap;
use crate::support::browser::Browser;
use crate::support::echo::spawn_echo;
use crate::support::fake_apps::pms::FakePms;
use crate::support::fake_apps::tautulli::{FakeTautulli, TautulliConfig, TautulliUser};
use crate::support::fake_plex::seeded;
use crate::support::nginx::Nginx;
use crate::support::plex_app::PlexApp;

#[tokio::test]
async fn plex_and_tautulli_sso_through_nginx_in_a_real_browser() {
    let plex = PlexApp::start().await;
    let friend = plex.fake.account(seeded::FRIEND_A);
    let pms = FakePms::start(seeded::MACHINE_A, vec![friend.token.clone()]).await;
    let tautulli = FakeTautulli::start(TautulliConfig {
        users: vec![TautulliUser::guest(
            seeded::FRIEND_A,
            "friendly",
            &friend.token,
        )],
        ..Default::default()
    })
    .await;
    plex.set(json!({
        "sso.plex.enabled": true,
        "sso.tautulli.enabled": true,
        "sso.tautulli.url": tautulli.base_url(),
        "sso.tautulli.api_key": tautulli.config.api_key,
        "sso.tautulli.path": "/tautulli",
    }))
    .await;

    // The seed's Plex block exactly as `usher proxy-config --app plex` prints it, plus where the
    // browser opens Tautulli (an echo here, to show which cookies arrive) and another path.
    let (echo, _task) = spawn_echo().await;
    let plex_block = generate(&Options {
        proxy: Proxy::Nginx,
        app: "plex".into(),
        upstream: Some(format!("http://{}", pms.server.addr)),
        group: 4,
        mode: Mode::Subdirectory,
        header_auth: false,
        usher: "http://127.0.0.1:8420".into(),
        domain: "example.com".into(),
    })
    .unwrap();
    let extra = format!(
        "location /tautulli/ {{ proxy_pass http://{echo}; }}\nlocation /elsewhere/ {{ proxy_pass http://{echo}; }}\n"
    );
    let snippet = plex_block.replacen(PROXY_CONF_MARKER, &format!("{extra}{PROXY_CONF_MARKER}"), 1);
    let dir = tempfile::tempdir().unwrap();
    let conf = nginx_wrap(&snippet, Mode::Subdirectory, "plex", dir.path())
        .replace("127.0.0.1:8420", &plex.app.addr.to_string());
    let nginx = Nginx::start(&conf).await;

    let browser = Browser::start().await;
    browser
        .goto(&nginx.url("/login?rd=%2Fplex%2Fweb%2Findex.html"))
        .await;
    browser.fill("input[name=username]", &friend.username).await;
    browser.fill("input[name=password]", &friend.password).await;
    browser.screenshot("sso-login").await;
    browser.click("button[type=submit]").await;
    browser
        .wait_for_url(|u| u.ends_with("/plex/web/index.html"))
        .await;
    let text = browser.wait_for_text("plex-").await;
    browser.screenshot("sso-plex-web").await;
    assert!(
        text.contains(&format!("plex-token:{}", friend.token)),
        "Plex Web under /plex/ reads the hand-over: {text}\n{}",
        nginx.error_log()
    );

    browser.goto(&nginx.url("/tautulli/home")).await;
    let at_tautulli = browser.wait_for_text("tautulli_token_").await;
    let issued = at_tautulli
        .split(&format!("tautulli_token_{}=", tautulli.uuid))
        .nth(1)
        .and_then(|rest| rest.split([';', '"']).next())
        .unwrap_or_else(|| panic!("no Tautulli cookie at /tautulli/: {at_tautulli}"));
    assert!(
        tautulli.issued(issued),
        "the cookie is the token Tautulli issued"
    );
    browser.goto(&nginx.url("/elsewhere/page")).await;
    let elsewhere = browser.wait_for_text("\"path\"").await;
    assert!(
        !elsewhere.contains("tautulli_token_"),
        "path-scoped: {elsewhere}"
    );

    // Sign out from the portal page: the cookie and the Plex token are gone.
    browser.goto(&nginx.url("/")).await;
    browser.click("details.menu summary").await;
    browser.click("form[data-sso-logout] button").await;
    browser.wait_for_url(|u| u.ends_with("/login")).await;
    browser.goto(&nginx.url("/plex/web/index.html")).await;
    let text = browser.wait_for_text("plex-").await;
    assert!(text.contains("plex-signed-out"), "{text}");
    browser.goto(&nginx.url("/tautulli/home")).await;
    let after = browser.wait_for_text("\"path\"").await;
    browser.screenshot("sso-signed-out").await;
    assert!(!after.contains("tautulli_token_"), "{after}");
    browser.close().await;
    plex.app.stop().await;
}
