//! Sign in with Plex in headless Chromium: click the button, approve on the (fake) plex.tv page,
//! arrive signed in. Once with the popup the page polls for, once the full-page way phones use.

use std::time::{Duration, Instant};

use crate::support::browser::Browser;
use crate::support::fake_plex::seeded::FRIEND_A;
use crate::support::plex_app::PlexApp;

/// The handle of a window other than `main`, once the page has opened one.
pub(crate) async fn popup_of(
    browser: &Browser,
    main: &fantoccini::wd::WindowHandle,
) -> fantoccini::wd::WindowHandle {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let windows = browser.client().windows().await.expect("window list");
        if let Some(w) = windows.into_iter().find(|w| w != main) {
            return w;
        }
        assert!(Instant::now() < deadline, "no popup opened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// On the sign-in page: Sign in with Plex, approve as `account` on the (fake) plex.tv page in
/// the popup, and back to the page, which moves on by itself. Screenshots named `label-…`.
pub(crate) async fn approve_in_plex_popup(
    browser: &Browser,
    p: &PlexApp,
    account: i64,
    label: &str,
) {
    let main = browser.client().window().await.expect("main window");
    browser.wait_for_text("Sign in with Plex").await;
    browser.screenshot(&format!("{label}-login-page")).await;
    browser.click("#plex-signin").await;

    let popup = popup_of(browser, &main).await;
    browser
        .client()
        .switch_to_window(popup)
        .await
        .expect("switch to popup");
    browser
        .wait_for_url(|u| u.starts_with(&p.fake.auth_url()))
        .await;
    browser.wait_for_text("Usher").await;
    browser
        .screenshot(&format!("{label}-popup-auth-page"))
        .await;
    browser
        .click(&format!("button[data-account=\"{account}\"]"))
        .await;

    // The fake plex.tv page closes the popup; the sign-in page, polling Usher, moves on.
    browser
        .client()
        .switch_to_window(main)
        .await
        .expect("back to the page");
}

#[tokio::test]
async fn sign_in_with_plex_popup_in_a_real_browser() {
    let p = PlexApp::start().await;
    let browser = Browser::start().await;
    browser.goto(&p.app.url("/login?rd=%2F")).await;
    approve_in_plex_popup(&browser, &p, FRIEND_A, "plex").await;
    let home = p.app.url("/");
    browser.wait_for_url(|u| u == home).await;
    browser.wait_for_text("Signed in as friendly").await;
    browser.screenshot("plex-popup-signed-in").await;
    let users = p.app.core.store.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].plex_id, Some(FRIEND_A));
    browser.close().await;
}

#[tokio::test]
async fn sign_in_with_plex_full_page_redirect_in_a_real_browser() {
    let p = PlexApp::start().await;
    let browser = Browser::start().await;
    // What the button's link does when no popup can be opened (phones, popup blockers).
    browser.goto(&p.app.url("/plex/start?rd=%2F")).await;
    browser
        .wait_for_url(|u| u.starts_with(&p.fake.auth_url()))
        .await;
    browser
        .click(&format!("button[data-account=\"{FRIEND_A}\"]"))
        .await;
    let home = p.app.url("/");
    browser.wait_for_url(|u| u == home).await;
    browser.wait_for_text("Signed in as friendly").await;
    browser.close().await;
}
