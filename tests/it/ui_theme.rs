//! The pages follow the system's light or dark theme (no setting needed), in real Chromium.

use crate::support::browser::Browser;
use crate::support::{TestApp, PASSWORD};

/// The page background as Chromium computes it.
async fn background(browser: &Browser) -> String {
    browser
        .client()
        .execute(
            "return getComputedStyle(document.body).backgroundColor;",
            vec![],
        )
        .await
        .expect("computed style")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn sign_in_and_look(
    browser: &Browser,
    app: &TestApp,
    name: &str,
    shot: &str,
) -> (String, String) {
    browser.goto(&app.url("/login")).await;
    let login = background(browser).await;
    browser.screenshot(&format!("{shot}-login")).await;
    browser.fill("#username", name).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_text("Signed in as").await;
    browser
        .goto(&app.url("/settings/main/authentication"))
        .await;
    browser.wait_for_text("Authentication type").await;
    let settings = background(browser).await;
    browser.screenshot(&format!("{shot}-settings")).await;
    (login, settings)
}

#[tokio::test]
async fn pages_follow_the_systems_dark_theme() {
    let app = TestApp::spawn().await;
    app.add_user("night", 0).await;
    app.add_user("day", 0).await;

    let dark = Browser::start_with(&[
        "--force-dark-mode",
        "--blink-settings=preferredColorScheme=0",
    ])
    .await;
    let (login, settings) = sign_in_and_look(&dark, &app, "night", "theme-dark").await;
    assert_eq!(login, "rgb(20, 23, 28)", "dark login page");
    assert_eq!(settings, "rgb(20, 23, 28)", "dark settings page");
    dark.close().await;

    let light = Browser::start_with(&["--blink-settings=preferredColorScheme=1"]).await;
    let (login, settings) = sign_in_and_look(&light, &app, "day", "theme-light").await;
    assert_eq!(login, "rgb(244, 245, 247)", "light login page");
    assert_eq!(settings, "rgb(244, 245, 247)", "light settings page");
    light.close().await;
}
