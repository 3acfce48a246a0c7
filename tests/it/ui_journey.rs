//! The whole web interface in headless Chromium, as a homelab admin and a friend of theirs use
//! it: first-run setup, Plex configured with both Retrieve buttons against the fake plex.tv,
//! Tautulli SSO turned on and tested, a tab created, then a Plex friend signing in with OAuth on
//! a phone-sized screen and finding the tab. Every step leaves a screenshot under
//! target/test-artifacts/journey-*.png. The failure paths (a wrong password, a refused setting)
//! are part of the walk.

use std::time::Duration;

use fantoccini::Locator;

use crate::plex_browser::popup_of;
use crate::support::browser::Browser;
use crate::support::fake_apps::tautulli::{FakeTautulli, TautulliConfig, TautulliUser};
use crate::support::fake_plex::seeded::{FRIEND_A, MACHINE_A, OWNER};
use crate::support::fake_plex::{FakePlex, FakePlexSeed};
use crate::support::TestApp;

const ADMIN: &str = "captain";
const ADMIN_PASSWORD: &str = "a long admin password";

/// Picks `value` in the `<select>` found by `css`.
pub(crate) async fn select(browser: &Browser, css: &str, value: &str) {
    browser
        .find(css)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("selecting {value:?} in {css:?}: {e}"));
}

/// Scrolls the element found by `css` to the middle of the screen (clear of the sticky save
/// bar, as a person would scroll) and returns it.
pub(crate) async fn reveal(browser: &Browser, css: &str) -> fantoccini::elements::Element {
    let element = browser.find(css).await;
    let arg = serde_json::to_value(&element).expect("element as a script argument");
    browser
        .client()
        .execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg])
        .await
        .expect("scroll into view");
    element
}

/// Makes the checkbox found by `css` checked (or not).
pub(crate) async fn check(browser: &Browser, css: &str, on: bool) {
    let b = reveal(browser, css).await;
    if b.is_selected().await.expect("checkbox state") != on {
        b.click().await.expect("click checkbox");
    }
}

/// Waits until the element found by `css` shows `needle` in its text.
pub(crate) async fn wait_text_in(browser: &Browser, css: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let text = browser.find(css).await.text().await.unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} never showed {needle:?}; it shows {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks "Save" on a settings page and waits for the answer.
pub(crate) async fn save_settings(browser: &Browser) -> String {
    browser.click("#save-settings").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = browser.find("#settings-status").await.text().await.unwrap();
        if text != "Saving…" && !text.is_empty() {
            return text;
        }
        assert!(std::time::Instant::now() < deadline, "Save never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Approves the plex.tv PIN in the popup the page opened as `account`, then returns to `main`.
async fn approve_in_popup(
    browser: &Browser,
    main: &fantoccini::wd::WindowHandle,
    fake: &FakePlex,
    account: i64,
) {
    let popup = popup_of(browser, main).await;
    browser
        .client()
        .switch_to_window(popup)
        .await
        .expect("switch to the Plex window");
    browser
        .wait_for_url(|u| u.starts_with(&fake.auth_url()))
        .await;
    browser
        .click(&format!("button[data-account=\"{account}\"]"))
        .await;
    browser
        .client()
        .switch_to_window(main.clone())
        .await
        .expect("back to Usher's page");
}

/// Opens the account menu and signs out.
async fn sign_out(browser: &Browser, app: &TestApp) {
    browser.click("details.menu summary").await;
    browser.click("#sign-out").await;
    let login = app.url("/login");
    browser.wait_for_url(|u| u == login).await;
}

#[tokio::test]
async fn the_whole_journey_from_setup_to_a_friend_on_a_phone() {
    let fake = FakePlex::start(FakePlexSeed::standard()).await;
    // Tautulli lists the friend with guest access allowed: their Plex token lets them in.
    let tautulli = FakeTautulli::start(TautulliConfig {
        users: vec![TautulliUser::guest(
            FRIEND_A,
            "friendly",
            &fake.account(FRIEND_A).token,
        )],
        ..TautulliConfig::default()
    })
    .await;
    let app = TestApp::spawn().await;
    let browser = Browser::start().await;
    let main = browser.client().window().await.expect("main window");

    // 1. First run: the one-time setup link from the log creates the first admin.
    let token = std::fs::read_to_string(app.data_dir.path().join("setup-token"))
        .expect("setup-token written at start");
    browser
        .goto(&app.url(&format!("/setup?token={}", token.trim())))
        .await;
    browser
        .wait_for_text("Create the first administrator")
        .await;
    browser.fill("#username", ADMIN).await;
    browser.fill("#email", "captain@example.com").await;
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser.screenshot("journey-01-setup").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("No apps to show yet").await;
    browser.screenshot("journey-02-empty-portal").await;

    // 2. Settings / System Settings / Main / Authentication: Plex as the backend.
    browser.click("a[href=\"/settings\"]").await;
    browser
        .wait_for_text("System Settings / Main / Authentication")
        .await;
    select(&browser, "#f-auth_type", "local_and_backend").await;
    select(&browser, "#f-auth_backend", "plex").await;
    check(&browser, "#f-plex-oauth", true).await;
    check(&browser, "#f-plex-strict_friends", true).await;
    browser.fill("#f-plex-tv_url", &fake.url()).await;
    browser.fill("#f-plex-auth_url", &fake.auth_url()).await;
    // A refused value is shown next to its field, and nothing of the form is saved.
    browser.fill("#f-remember_days", "100000").await;
    let said = save_settings(&browser).await;
    assert!(said.contains("Nothing was saved"), "{said}");
    let why = wait_text_in(&browser, "#f-remember_days-error", "whole number").await;
    assert!(
        why.contains("Expected a whole number from 1 to 365"),
        "{why}"
    );
    browser.screenshot("journey-03-setting-refused").await;
    assert!(
        !app.core.settings().auth_type.uses_backend(),
        "nothing saved with the refused value"
    );
    browser.fill("#f-remember_days", "30").await;
    let said = save_settings(&browser).await;
    assert_eq!(said, "Saved.");
    assert_eq!(app.core.settings().remember_days, 30);
    assert!(app.core.settings().plex_oauth_enabled());

    // Plex token → Retrieve: the owner approves in plex.tv's window.
    reveal(&browser, "#retrieve-plex-token").await;
    browser.click("#retrieve-plex-token").await;
    approve_in_popup(&browser, &main, &fake, OWNER).await;
    let said = wait_text_in(&browser, "#plex-token-status", "Token saved").await;
    assert!(said.contains("adminuser"), "{said}");
    assert_eq!(
        app.core
            .settings()
            .get("plex.token")
            .and_then(|v| v.as_str()),
        Some(fake.account(OWNER).token.as_str()),
        "the owner's token was saved"
    );
    // Plex machine → Retrieve: pick the server from the owner's list.
    reveal(&browser, "#retrieve-plex-machine").await;
    browser.click("#retrieve-plex-machine").await;
    browser
        .click(&format!("button[data-machine=\"{MACHINE_A}\"]"))
        .await;
    wait_text_in(&browser, "#plex-machine-status", "Press Save").await;
    browser.screenshot("journey-04-plex-retrieved").await;
    assert_eq!(save_settings(&browser).await, "Saved.");
    assert_eq!(
        app.core.settings().plex.machine_id.as_deref(),
        Some(MACHINE_A)
    );
    browser.screenshot("journey-05-authentication-saved").await;
    // Only changed fields are sent: saving again sends nothing (selects included).
    assert_eq!(save_settings(&browser).await, "Nothing changed.");

    // 3. Settings / Single Sign-On / Tautulli: turn on, save, Test.
    browser.click("a[href=\"/settings/sso/tautulli\"]").await;
    browser
        .wait_for_text("System Settings / Single Sign-On / Tautulli")
        .await;
    check(&browser, "#f-sso-tautulli-enabled", true).await;
    browser
        .fill("#f-sso-tautulli-url", &tautulli.base_url())
        .await;
    browser
        .fill("#f-sso-tautulli-api_key", &tautulli.config.api_key)
        .await;
    assert_eq!(save_settings(&browser).await, "Saved.");
    browser
        .fill("#test-username", &tautulli.config.username)
        .await;
    browser
        .fill("#test-password", &tautulli.config.password)
        .await;
    browser.click("#run-test").await;
    wait_text_in(&browser, "#test-status", "Works.").await;
    let results = browser.find("#test-results").await.text().await.unwrap();
    assert!(results.contains("tautulli_token_"), "{results}");
    browser.screenshot("journey-06-tautulli-test").await;

    // 4. Tabs: the Tautulli tab for users (4) and everyone above.
    browser.click("a[href=\"/tabs\"]").await;
    browser.wait_for_text("Add a tab").await;
    browser.fill("#nt-name", "Tautulli").await;
    let tab_url = format!("{}/home", tautulli.base_url());
    browser.fill("#nt-url", &tab_url).await;
    select(&browser, "#nt-min", "4").await;
    select(&browser, "#nt-max", "0").await;
    browser.click("#add-tab").await;
    browser.find("tr[data-tab=\"Tautulli\"]").await;
    browser.screenshot("journey-07-tab-created").await;
    sign_out(&browser, &app).await;

    // 5. A friend, on a phone: a wrong password first, then Sign in with Plex.
    browser
        .client()
        .set_window_size(390, 844)
        .await
        .expect("phone-sized window");
    browser.fill("#username", "friendly").await;
    browser.fill("#password", "not the password").await;
    browser.click("form button[type=submit]").await;
    let text = browser.wait_for_text("Wrong").await;
    assert!(text.to_lowercase().contains("wrong"), "{text}");
    browser.screenshot("journey-08-phone-wrong-password").await;
    browser.click("#plex-signin").await;
    approve_in_popup(&browser, &main, &fake, FRIEND_A).await;
    let home = app.url("/");
    browser
        .wait_for_url(|u| u == home || u.contains("/sso/handoff"))
        .await;
    browser.wait_for_text("Signed in as friendly").await;
    browser.find("a[data-tab=\"Tautulli\"]").await;
    browser.screenshot("journey-09-phone-portal").await;
    let users = app.core.store.list_users().await.unwrap();
    let friend = users
        .iter()
        .find(|u| u.plex_id == Some(FRIEND_A))
        .expect("the friend's account");
    assert_eq!(friend.group_id, 4, "Plex friends join the default group");
    // The tab opens inside the portal, and Tautulli already knows the friend (SSO at sign-in).
    browser.click("a[data-tab=\"Tautulli\"]").await;
    let frame = browser.find("#app-frame").await;
    assert_eq!(
        frame.attr("src").await.unwrap().as_deref(),
        Some(tab_url.as_str())
    );
    frame
        .clone()
        .enter_frame()
        .await
        .expect("into the app's frame");
    let state = wait_text_in(&browser, "#state", "signed in").await;
    assert_eq!(state, "Activity: signed in by Usher");
    browser
        .client()
        .enter_parent_frame()
        .await
        .expect("back to the portal");
    browser.screenshot("journey-10-phone-tab").await;
    // The debug area (account menu) shows Tautulli's sign-in as working for this session.
    browser.click("details.menu summary").await;
    browser.click("a[href=\"/debug\"]").await;
    let tautulli_row = wait_text_in(&browser, "section[data-app=\"Tautulli\"]", "working").await;
    assert!(tautulli_row.contains("signed in"), "{tautulli_row}");
    browser.screenshot("journey-11-phone-debug").await;
    assert!(
        browser
            .client()
            .find(Locator::Css("a[href=\"/settings\"]"))
            .await
            .is_err(),
        "a friend sees no admin menu"
    );
    sign_out(&browser, &app).await;
    browser.screenshot("journey-12-phone-signed-out").await;
    browser.close().await;
}
