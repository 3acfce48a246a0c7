//! The administrators' pages in headless Chromium, as an admin uses them: users (add, refuse a
//! taken name, search, edit, lock, reset a password, end a session, delete), groups, tabs, the
//! profile's "Sign out all other devices", the debug area and the 403 page for a non-admin.
//! Every step checks the store or the page, and each page leaves a screenshot under
//! target/test-artifacts/admin-*.png.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::browser::Browser;
use crate::support::{TestApp, PASSWORD};
use crate::ui_journey::{reveal, select, wait_text_in};

/// How long a page may take to answer a click.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Signs `name` in through the /login page and waits for the portal.
pub(crate) async fn sign_in(browser: &Browser, app: &TestApp, name: &str) {
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", name).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_url(|u| !u.contains("/login")).await;
    browser.wait_for_text(&format!("{name} ▾")).await;
}

/// Marks the page now shown, so `wait_for_new_page` can tell when app.js has reloaded it.
async fn mark_page(browser: &Browser) {
    browser
        .client()
        .execute("window.usherTestOldPage = true;", vec![])
        .await
        .expect("mark the page");
}

/// Waits until the marked page has been replaced by a freshly loaded one.
async fn wait_for_new_page(browser: &Browser) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let fresh = browser
            .client()
            .execute(
                "return !window.usherTestOldPage && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if matches!(fresh, Ok(Value::Bool(true))) {
            return;
        }
        let status = browser
            .client()
            .execute(
                "var s = document.querySelectorAll('[data-status], #page-status'); \
                 return Array.prototype.map.call(s, function (e) { return e.textContent; }).join(' | ');",
                vec![],
            )
            .await;
        assert!(
            Instant::now() < deadline,
            "the page was never reloaded; status lines: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks `css` and waits for the reload that a successful change ends with.
async fn click_and_reload(browser: &Browser, css: &str) {
    mark_page(browser).await;
    reveal(browser, css).await.click().await.expect(css);
    wait_for_new_page(browser).await;
}

/// Accepts the `window.confirm` the last click opened, checking its question.
async fn accept_confirm(browser: &Browser, question: &str) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Ok(text) = browser.client().get_alert_text().await {
            assert!(text.contains(question), "confirm asked {text:?}");
            browser
                .client()
                .accept_alert()
                .await
                .expect("accept confirm");
            return;
        }
        assert!(Instant::now() < deadline, "no confirm dialog appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks `css`, accepts its confirm dialog and waits for the reload.
async fn confirm_and_reload(browser: &Browser, css: &str, question: &str) {
    mark_page(browser).await;
    reveal(browser, css).await.click().await.expect(css);
    accept_confirm(browser, question).await;
    wait_for_new_page(browser).await;
}

/// The store's user called `name`, if any.
async fn user(app: &TestApp, name: &str) -> Option<usher::domain::User> {
    let users = app.core.store.list_users().await.expect("list users");
    users.into_iter().find(|u| u.username == name)
}

/// Whether the element found by `css` is shown.
async fn shown(browser: &Browser, css: &str) -> bool {
    browser
        .find(css)
        .await
        .is_displayed()
        .await
        .expect("displayed?")
}

/// A reqwest client with a new session of the existing user `name`.
async fn another_session(app: &TestApp, name: &str) -> reqwest::Client {
    let client = app.client();
    let r = app.login(&client, name, PASSWORD).await;
    assert_eq!(r.status(), 200, "login of {name}");
    client
}

/// The id of the session `client` is signed in with.
async fn own_session_id(app: &TestApp, client: &reqwest::Client) -> i64 {
    let (status, me) = app.get_json(client, "/api/v2/me").await;
    assert_eq!(status, 200, "{me}");
    me["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_i64())
        .expect("the current session")
}

#[tokio::test]
async fn an_admin_manages_users_in_the_browser() {
    let app = TestApp::spawn().await;
    app.add_user("boss", 0).await;
    let alice = app.add_user("alice", 4).await;
    // Alice is signed in on two devices: one is ended from her Sessions, the other by a new password.
    let phone = another_session(&app, "alice").await;
    let laptop = another_session(&app, "alice").await;
    let phone_session = own_session_id(&app, &phone).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "boss").await;
    browser.click("a[href=\"/users\"]").await;
    browser.find("tr[data-user=\"alice\"]").await;

    // Add a user through the form.
    browser.click("#new-user summary").await;
    browser.fill("#nu-username", "carol").await;
    browser.fill("#nu-email", "carol@example.com").await;
    browser.fill("#nu-password", "carol's long password").await;
    select(&browser, "#nu-group", "3").await;
    click_and_reload(&browser, "#new-user button[type=submit]").await;
    let carol = user(&app, "carol").await.expect("carol was created");
    assert_eq!(carol.group_id, 3);
    assert_eq!(carol.email.as_deref(), Some("carol@example.com"));
    browser.find("tr[data-user=\"carol\"]").await;
    // The reloaded page says what happened.
    let said = wait_text_in(&browser, "#page-status", "Added carol").await;
    assert_eq!(said, "Added carol: they can sign in now.");

    // The same name again: refused next to the username field, nothing created.
    let before = app.core.store.list_users().await.unwrap().len();
    browser.click("#new-user summary").await;
    browser.fill("#nu-username", "carol").await;
    browser.click("#new-user button[type=submit]").await;
    let why = wait_text_in(&browser, "#new-user [data-error-for=username]", "taken").await;
    assert_eq!(why, "Is already taken");
    assert_eq!(app.core.store.list_users().await.unwrap().len(), before);
    browser.screenshot("admin-users-taken").await;

    // The search box hides the rows that do not match.
    browser.fill("#user-search", "CAROL@").await;
    assert!(shown(&browser, "tr[data-user=\"carol\"]").await);
    assert!(!shown(&browser, "tr[data-user=\"alice\"]").await);
    assert!(!shown(&browser, "tr[data-user=\"boss\"]").await);
    browser.fill("#user-search", "").await;
    browser
        .find("#user-search")
        .await
        .send_keys(" ")
        .await
        .unwrap();
    assert!(shown(&browser, "tr[data-user=\"alice\"]").await);

    // One of Alice's sessions, ended from her Sessions list.
    let row = "tr[data-user=\"alice\"]";
    browser
        .click(&format!("{row} td > details:nth-of-type(2) > summary"))
        .await;
    browser.screenshot("admin-users-sessions").await;
    click_and_reload(
        &browser,
        &format!("{row} button[data-action=\"DELETE /api/v2/sessions/{phone_session}\"]"),
    )
    .await;
    assert_eq!(app.get_json(&phone, "/api/v2/me").await.0, 401);
    assert_eq!(app.get_json(&laptop, "/api/v2/me").await.0, 200);

    // A new password through Edit: the old one stops working, and so does every session.
    let edit = format!("{row} td > details:nth-of-type(1)");
    browser.click(&format!("{edit} > summary")).await;
    // Too short first: refused inside the Edit form, nothing changed.
    browser
        .fill(&format!("#u{}-password", alice.id), "short")
        .await;
    browser.click(&format!("{edit} button[type=submit]")).await;
    // The reason is shown under the password field itself.
    let why = wait_text_in(
        &browser,
        &format!("{edit} [data-error-for=\"password\"]"),
        "at least 8",
    )
    .await;
    assert!(why.starts_with("Must be at least 8 characters"), "{why}");
    let said = browser
        .find(&format!("{edit} [data-status]"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(said, "Nothing was saved: fix the marked field.");
    assert_eq!(app.get_json(&laptop, "/api/v2/me").await.0, 200);
    browser
        .fill(&format!("#u{}-password", alice.id), "alice's new password")
        .await;
    browser.screenshot("admin-users-edit").await;
    click_and_reload(&browser, &format!("{edit} button[type=submit]")).await;
    assert_eq!(app.get_json(&laptop, "/api/v2/me").await.0, 401);
    let fresh = app.client();
    assert_eq!(app.login(&fresh, "alice", PASSWORD).await.status(), 401);
    let r = app.login(&fresh, "alice", "alice's new password").await;
    assert_eq!(r.status(), 200);

    // Another group through Edit.
    browser.click(&format!("{edit} > summary")).await;
    select(&browser, &format!("#u{}-group", alice.id), "3").await;
    click_and_reload(&browser, &format!("{edit} button[type=submit]")).await;
    assert_eq!(user(&app, "alice").await.unwrap().group_id, 3);
    let group = browser
        .find(&format!("{row} td[data-label=Group]"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(group, "Power User (3)");

    // Lock, then Unlock.
    confirm_and_reload(
        &browser,
        &format!("{row} button[data-action$=\"/lock\"]"),
        "Lock alice? Usher and every app refuse them until they are unlocked.",
    )
    .await;
    assert!(user(&app, "alice").await.unwrap().locked);
    wait_text_in(&browser, &format!("{row} td[data-label=State]"), "locked").await;
    // While locked her session is refused (423), as the confirm said; unlocking lets it back in.
    assert_eq!(app.get_json(&fresh, "/api/v2/me").await.0, 423);
    click_and_reload(&browser, &format!("{row} button[data-action$=\"/unlock\"]")).await;
    assert!(!user(&app, "alice").await.unwrap().locked);
    wait_text_in(&browser, &format!("{row} td[data-label=State]"), "active").await;
    assert_eq!(app.get_json(&fresh, "/api/v2/me").await.0, 200);

    // Delete Carol, after the confirm dialog.
    confirm_and_reload(
        &browser,
        "tr[data-user=\"carol\"] button[data-action^=\"DELETE /api/v2/users/\"]",
        "Delete carol",
    )
    .await;
    assert!(user(&app, "carol").await.is_none());
    assert!(!browser.source().await.contains("data-user=\"carol\""));
    browser.screenshot("admin-users").await;

    browser
        .client()
        .set_window_size(390, 844)
        .await
        .expect("phone-sized window");
    browser.goto(&app.url("/users")).await;
    browser.find("tr[data-user=\"alice\"]").await;
    browser.screenshot("admin-users-phone").await;
    browser.close().await;
}

#[tokio::test]
async fn an_admin_manages_groups_in_the_browser() {
    let app = TestApp::spawn().await;
    app.add_user("boss", 0).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "boss").await;
    browser.goto(&app.url("/groups")).await;

    // An empty name is refused next to the field.
    browser.click("#new-group button[type=submit]").await;
    let why = wait_text_in(&browser, "#new-group [data-error-for=name]", "characters").await;
    assert!(why.starts_with("Must be 1 to"), "{why}");
    assert_eq!(app.core.store.list_groups().await.unwrap().len(), 6);
    browser.screenshot("admin-groups-refused").await;

    // No number given: the lowest free one (5).
    browser.fill("#ng-name", "Family").await;
    click_and_reload(&browser, "#new-group button[type=submit]").await;
    let groups = app.core.store.list_groups().await.unwrap();
    let family = groups.iter().find(|g| g.id == 5).expect("group 5 created");
    assert_eq!(family.name, "Family");

    // Rename it.
    browser.fill("#g5-name", "Friends").await;
    click_and_reload(&browser, "tr[data-group=\"5\"] button[type=submit]").await;
    assert_eq!(app.core.group(5).await.unwrap().name, "Friends");

    // Make it the default; the default cannot be deleted, and the page says why.
    click_and_reload(&browser, "tr[data-group=\"5\"] button[data-body]").await;
    assert!(app.core.group(5).await.unwrap().is_default);
    wait_text_in(&browser, "tr[data-group=\"5\"]", "default for new accounts").await;
    browser.screenshot("admin-groups").await;
    reveal(&browser, "tr[data-group=\"5\"] button.danger")
        .await
        .click()
        .await
        .unwrap();
    accept_confirm(&browser, "Delete group Friends?").await;
    let why = wait_text_in(&browser, "#page-status", "default group").await;
    assert!(
        why.contains("make another group the default first"),
        "{why}"
    );
    assert!(
        app.core.group(5).await.is_ok(),
        "the default was not deleted"
    );

    // Another default, then the delete goes through.
    click_and_reload(&browser, "tr[data-group=\"4\"] button[data-body]").await;
    assert!(app.core.group(4).await.unwrap().is_default);
    confirm_and_reload(
        &browser,
        "tr[data-group=\"5\"] button.danger",
        "Delete group Friends?",
    )
    .await;
    assert!(app.core.group(5).await.is_err(), "group 5 deleted");
    assert!(!browser.source().await.contains("data-group=\"5\""));
    browser.close().await;
}

/// The names of the store's tabs, in order.
async fn tab_names(app: &TestApp) -> Vec<String> {
    let tabs = app.core.store.list_tabs().await.expect("list tabs");
    tabs.into_iter().map(|t| t.name).collect()
}

#[tokio::test]
async fn an_admin_manages_tabs_in_the_browser() {
    let app = TestApp::spawn().await;
    app.add_user("boss", 0).await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "boss").await;
    browser.goto(&app.url("/tabs")).await;
    browser.find("#no-tabs").await;

    for (name, url) in [("Alpha", "/alpha/"), ("Beta", "https://beta.example.com/")] {
        browser.fill("#nt-name", name).await;
        browser.fill("#nt-url", url).await;
        click_and_reload(&browser, "#add-tab").await;
    }
    assert_eq!(tab_names(&app).await, ["Alpha", "Beta"]);

    // A javascript: URL is refused next to the URL field.
    browser.fill("#nt-name", "Bad").await;
    browser.fill("#nt-url", "javascript:alert(1)").await;
    browser.click("#add-tab").await;
    let why = wait_text_in(&browser, "#nt-url-error", "http").await;
    assert!(why.starts_with("Must be an http://"), "{why}");
    assert_eq!(tab_names(&app).await.len(), 2);
    browser.screenshot("admin-tabs-refused").await;

    // Beta moves up, and stays there.
    browser
        .click("tr[data-tab=\"Beta\"] button[data-move=up]")
        .await;
    wait_text_in(&browser, "#page-status", "Order saved.").await;
    assert_eq!(tab_names(&app).await, ["Beta", "Alpha"]);
    browser.goto(&app.url("/tabs")).await;
    let first = browser.find("#tabs tbody tr").await;
    assert_eq!(
        first.attr("data-tab").await.unwrap().as_deref(),
        Some("Beta")
    );

    // Edit Alpha: a category.
    let alpha = "tr[data-tab=\"Alpha\"]";
    browser.click(&format!("{alpha} details > summary")).await;
    browser
        .fill(&format!("{alpha} input[name=category]"), "Media")
        .await;
    browser.screenshot("admin-tabs-edit").await;
    click_and_reload(&browser, &format!("{alpha} button[type=submit]")).await;
    let tabs = app.core.store.list_tabs().await.unwrap();
    let edited = tabs.iter().find(|t| t.name == "Alpha").unwrap();
    assert_eq!(edited.category.as_deref(), Some("Media"));
    assert_eq!(edited.url, "/alpha/", "only the changed field was sent");
    wait_text_in(&browser, alpha, "Media").await;
    browser
        .client()
        .execute("window.scrollTo(0, 0);", vec![])
        .await
        .unwrap();
    browser.screenshot("admin-tabs").await;

    // Delete Beta.
    confirm_and_reload(
        &browser,
        "tr[data-tab=\"Beta\"] button.danger",
        "Delete the tab Beta?",
    )
    .await;
    assert_eq!(tab_names(&app).await, ["Alpha"]);
    assert!(!browser.source().await.contains("data-tab=\"Beta\""));
    browser.close().await;
}

#[tokio::test]
async fn a_user_signs_out_other_devices_and_sees_the_debug_area() {
    let app = TestApp::spawn().await;
    let dave = app.add_user("dave", 4).await;
    let other_device = another_session(&app, "dave").await;
    let browser = Browser::start().await;
    sign_in(&browser, &app, "dave").await;

    browser.goto(&app.url("/account")).await;
    let rows = browser
        .client()
        .find_all(fantoccini::Locator::Css("#my-sessions tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "the browser and the other device");
    browser.screenshot("admin-account").await;
    confirm_and_reload(&browser, "#revoke-others", "Sign out everywhere except").await;
    assert_eq!(app.get_json(&other_device, "/api/v2/me").await.0, 401);
    let left = app.core.sessions_of(Some(dave.id)).await.unwrap();
    assert_eq!(left.len(), 1, "the browser's session stays");
    wait_text_in(&browser, "#my-sessions", "this device").await;
    assert!(!browser.source().await.contains("id=\"revoke-others\""));

    // The debug area with single sign-on off: every app says so.
    browser.goto(&app.url("/debug")).await;
    browser.wait_for_text("Debug area").await;
    let apps = browser
        .client()
        .find_all(fantoccini::Locator::Css("section[data-app]"))
        .await
        .unwrap();
    assert!(apps.len() >= 3, "{} apps listed", apps.len());
    for section in apps {
        let text = section.text().await.unwrap();
        assert!(
            text.contains("off") && text.contains("Not turned on"),
            "{text}"
        );
    }
    browser.screenshot("admin-debug").await;

    // Not an administrator: the users page is a 403 page, not a list.
    browser.goto(&app.url("/users")).await;
    browser.wait_for_text("Administrators only").await;
    assert!(!browser.source().await.contains("data-user="));
    let client = another_session(&app, "dave").await;
    let r = client.get(app.url("/users")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    browser.screenshot("admin-users-forbidden").await;
    browser.close().await;
}
