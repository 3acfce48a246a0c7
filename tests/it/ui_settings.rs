//! Settings pages in headless Chromium: what the browser cannot read is refused before anything
//! is sent, and secrets are saved and removed without showing their value.

use crate::support::browser::Browser;
use crate::support::TestApp;
use crate::ui_admin::sign_in;
use crate::ui_journey::{check, reveal, save_settings, wait_text_in};

#[tokio::test]
async fn unreadable_values_are_refused_in_the_page_and_secrets_come_and_go() {
    let app = TestApp::spawn().await;
    app.add_user("root", 0).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "root").await;

    // Proxy rules that are not JSON: the parser's reason under the field, nothing sent.
    browser.goto(&app.url("/settings/main/proxy-auth")).await;
    reveal(&browser, "#f-proxy-rules").await;
    browser
        .fill("#f-proxy-rules", r#"[{"allow": {"groups": [0]}},]"#)
        .await;
    assert_eq!(
        save_settings(&browser).await,
        "Nothing was saved: fix the marked field."
    );
    let why = wait_text_in(&browser, "#f-proxy-rules-error", "not valid JSON").await;
    assert!(why.starts_with("This is not valid JSON: "), "{why}");
    assert!(app
        .core
        .settings()
        .get("proxy.rules")
        .is_none_or(|v| v.as_array().is_none_or(|a| a.is_empty())));
    browser.screenshot("settings-json-refused").await;

    // A number the browser cannot read ("1e") is not sent as "back to the default".
    browser
        .goto(&app.url("/settings/main/authentication"))
        .await;
    reveal(&browser, "#f-remember_days").await;
    browser.fill("#f-remember_days", "1e").await;
    assert_eq!(
        save_settings(&browser).await,
        "Nothing was saved: fix the marked field."
    );
    wait_text_in(&browser, "#f-remember_days-error", "Enter a whole number").await;
    assert_eq!(app.core.settings().remember_days, 7);

    // A secret: saved (never shown back), then removed with its box.
    browser.goto(&app.url("/settings/sso/tautulli")).await;
    check(&browser, "#f-sso-tautulli-enabled", true).await;
    browser
        .fill(
            "#f-sso-tautulli-api_key",
            "0123456789abcdef0123456789abcdef",
        )
        .await;
    assert_eq!(save_settings(&browser).await, "Saved.");
    let key = browser.find("#f-sso-tautulli-api_key").await;
    assert_eq!(key.prop("value").await.unwrap().as_deref(), Some(""));
    assert_eq!(
        key.attr("placeholder").await.unwrap().as_deref(),
        Some("Saved — leave empty to keep")
    );
    assert_eq!(
        app.core
            .settings()
            .get("sso.tautulli.api_key")
            .and_then(|v| v.as_str()),
        Some("0123456789abcdef0123456789abcdef")
    );
    browser.goto(&app.url("/settings/sso/tautulli")).await;
    assert!(!browser.source().await.contains("0123456789abcdef"));
    check(
        &browser,
        "input[data-clear-for=\"sso.tautulli.api_key\"]",
        true,
    )
    .await;
    assert_eq!(save_settings(&browser).await, "Saved.");
    assert!(app
        .core
        .settings()
        .get("sso.tautulli.api_key")
        .is_none_or(|v| v.is_null()));
    let key = browser.find("#f-sso-tautulli-api_key").await;
    assert!(key.is_enabled().await.unwrap(), "the field is usable again");
    assert_eq!(
        key.attr("placeholder").await.unwrap().as_deref(),
        Some("Not set")
    );
    assert!(
        !browser
            .find("input[data-clear-for=\"sso.tautulli.api_key\"]")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "nothing left to remove"
    );
    browser.close().await;
}
