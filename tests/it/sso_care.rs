//! SSO that never hurts an app or the login, over real HTTP against the app fakes (the fake
//! Tautulli locks an address out after 10 failed sign-ins in 5 minutes, as the real one does):
//! - people Tautulli would refuse are never posted, so they cause no failed sign-in there, and
//!   its admin login keeps working;
//! - a refusal is not repeated for the same person and password (Tautulli, Jellyfin);
//! - an app that hangs or refuses connections costs the first sign-in, later ones are not sent
//!   to it (counted at the fake, and the `skipped` state of the debug area), and the background
//!   check lets it back in once it answers;
//! - the portal says next to the app's tile why the person is not signed in there.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api_login::set_settings;
use crate::support::fake_apps::down_url;
use crate::support::fake_apps::jellyfin::{FakeJellyfin, JellyfinConfig};
use crate::support::fake_apps::tautulli::{FakeTautulli, TautulliConfig};
use crate::support::{TestApp, PASSWORD};
use crate::ui_pages::get;

/// The Tautulli settings for one fake instance.
fn tautulli_settings(t: &FakeTautulli) -> Value {
    json!({
        "sso.tautulli.enabled": true,
        "sso.tautulli.url": t.base_url(),
        "sso.tautulli.api_key": t.config.api_key,
    })
}

/// Usher with Tautulli's admin `alice`, SSO into a Tautulli that hangs (1 s app timeout), down
/// apps checked again after `retry_seconds`, plus `more` settings.
async fn with_a_hanging_tautulli(retry_seconds: u64, more: Value) -> (TestApp, FakeTautulli) {
    let app = TestApp::spawn().await;
    let stuck = FakeTautulli::start(TautulliConfig::default()).await;
    stuck.server.control.hang();
    let mut settings = tautulli_settings(&stuck);
    settings["sso.app_timeout_seconds"] = json!(1);
    settings["sso.timeout_seconds"] = json!(2);
    settings["sso.down_retry_seconds"] = json!(retry_seconds);
    for (k, v) in more.as_object().unwrap() {
        settings[k] = v.clone();
    }
    set_settings(&app, settings).await;
    app.add_user("alice", 0).await;
    (app, stuck)
}

/// One app's row (`app` = its setting prefix) of a debug-area answer.
pub(crate) fn app_row(debug: &Value, app: &str) -> Value {
    debug["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["app"] == app)
        .unwrap_or_else(|| panic!("no row {app} in {debug}"))
        .clone()
}

/// One app's row of the signed-in person's debug area.
async fn debug_row(app: &TestApp, client: &reqwest::Client, name: &str) -> Value {
    let (status, debug) = app.get_json(client, "/api/v2/sso/debug").await;
    assert_eq!(status, 200, "{debug}");
    app_row(&debug, name)
}

/// Signs `name` in with a fresh client and answers the client.
async fn login(app: &TestApp, name: &str) -> reqwest::Client {
    let client = app.client();
    let r = app.login(&client, name, PASSWORD).await;
    assert_eq!(r.status(), 200, "login of {name}");
    client
}

/// The Set-Cookie value of `name` in a login answer, if any.
fn tautulli_cookie(r: &reqwest::Response, uuid: &str) -> Option<String> {
    let prefix = format!("tautulli_token_{uuid}=");
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.split(';').next().unwrap().to_string())
}

#[tokio::test]
async fn people_tautulli_does_not_know_cause_no_failed_sign_in_and_its_admin_still_gets_in() {
    let app = TestApp::spawn().await;
    // alice is Tautulli's admin login (HTTP_USERNAME); nobody else is known there.
    let tautulli = FakeTautulli::start(TautulliConfig::default()).await;
    set_settings(&app, tautulli_settings(&tautulli)).await;
    app.add_user("alice", 0).await;
    for i in 0..12 {
        let name = format!("guest{i}");
        app.add_user(&name, 4).await;
        login(&app, &name).await;
    }
    assert_eq!(tautulli.failed_sign_ins(), 0, "nobody was refused");
    assert_eq!(tautulli.sign_in_posts(), 0, "nobody was even tried");
    let guest = login(&app, "guest0").await;
    let row = debug_row(&app, &guest, "tautulli").await;
    assert_eq!(
        row["last"][0]["error_code"], "app_user_not_allowed",
        "{row}"
    );
    let hint = row["hint"].as_str().unwrap();
    // The reason, then the real choice as its own sentence: Plex, or Tautulli's admin login.
    assert!(hint.contains("did not try"), "{hint}");
    assert!(
        hint.contains("must sign in with Plex. Sign in to Usher with Plex"),
        "{hint}"
    );
    assert!(hint.contains("or use Tautulli's admin login"), "{hint}");

    // Tautulli's admin login still works: its address was never locked out.
    let client = app.client();
    let r = app.login(&client, "alice", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let token = tautulli_cookie(&r, &tautulli.uuid).expect("alice got Tautulli's cookie");
    assert!(tautulli.issued(&token));
    app.stop().await;
}

#[tokio::test]
async fn a_refused_password_is_not_tried_again_for_the_same_person() {
    let app = TestApp::spawn().await;
    // Tautulli's admin login and Jellyfin's alice both have another password than Usher's alice.
    let tautulli = FakeTautulli::start(TautulliConfig {
        password: "tautulli's own password".into(),
        ..Default::default()
    })
    .await;
    let jellyfin =
        FakeJellyfin::start(JellyfinConfig::with_users(&[("alice", "jellyfin's own")])).await;
    let mut settings = tautulli_settings(&tautulli);
    settings["sso.jellyfin.enabled"] = json!(true);
    settings["sso.jellyfin.url"] = json!(jellyfin.base_url());
    set_settings(&app, settings).await;
    app.add_user("alice", 0).await;
    for _ in 0..4 {
        login(&app, "alice").await;
    }
    assert_eq!(tautulli.sign_in_posts(), 1);
    assert_eq!(tautulli.failed_sign_ins(), 1);
    let jellyfin_posts = jellyfin
        .server
        .control
        .seen()
        .iter()
        .filter(|s| s.path == "/Users/AuthenticateByName")
        .count();
    assert_eq!(jellyfin_posts, 1, "Jellyfin disables accounts after a few");
    let client = login(&app, "alice").await;
    for name in ["tautulli", "jellyfin"] {
        let row = debug_row(&app, &client, name).await;
        assert_eq!(
            row["last"][0]["error_code"], "app_refused_recently",
            "{row}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_dead_app_costs_the_first_sign_in_and_later_ones_nothing() {
    // No background check within the test: only sign-ins could reach the app.
    let (app, stuck) = with_a_hanging_tautulli(
        300,
        json!({
            "sso.ombi.enabled": true,
            "sso.ombi.url": down_url().await,
        }),
    )
    .await;

    login(&app, "alice").await;
    let reached = stuck.server.control.seen().len();
    assert!(reached >= 1, "the first sign-in tried the app");
    for _ in 0..3 {
        login(&app, "alice").await;
    }
    assert_eq!(
        stuck.server.control.seen().len(),
        reached,
        "later sign-ins did not contact the hanging app"
    );
    let client = login(&app, "alice").await;
    let tautulli = debug_row(&app, &client, "tautulli").await;
    assert_eq!(
        tautulli["last"][0]["error_code"], "app_skipped",
        "{tautulli}"
    );
    assert!(
        tautulli["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("did not answer within"),
        "{tautulli}"
    );
    assert!(tautulli["hint"].as_str().unwrap().contains("skipped"));
    let ombi = debug_row(&app, &client, "ombi").await;
    assert_eq!(ombi["last"][0]["error_code"], "app_skipped", "{ombi}");
    assert!(
        ombi["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{ombi}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_background_check_lets_an_app_back_in_once_it_answers() {
    let (app, stuck) = with_a_hanging_tautulli(1, json!({})).await;
    login(&app, "alice").await;
    let skipped = app.core.sso_guard.skipped();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].app, "Tautulli");

    // Tautulli is back: the background check (not a sign-in, not the debug area) notices.
    stuck.server.control.unhang();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !app.core.sso_guard.skipped().is_empty() {
        assert!(Instant::now() < deadline, "the app was never let back in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = app.client();
    let r = app.login(&client, "alice", PASSWORD).await;
    let token = tautulli_cookie(&r, &stuck.uuid).expect("signed into Tautulli again");
    assert!(stuck.issued(&token));
    app.stop().await;
}

#[tokio::test]
async fn the_portal_says_next_to_the_tab_why_the_person_is_not_signed_in() {
    let app = TestApp::spawn().await;
    let tautulli = FakeTautulli::start(TautulliConfig::default()).await;
    set_settings(&app, tautulli_settings(&tautulli)).await;
    let admin = app.signed_in("root", 0).await;
    for tab in [
        json!({"name": "Tautulli", "url": "/tautulli/", "group_id": 4}),
        json!({"name": "Books", "url": "/books/", "group_id": 4}),
    ] {
        let r = admin
            .post(app.url("/api/v2/tabs"))
            .json(&tab)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    let bob = app.signed_in("bob", 4).await;
    let (_, html, _) = get(&bob, &app, "/").await;
    let tile = html
        .split("<li>")
        .find(|li| li.contains("data-tab=\"Tautulli\""))
        .expect("the Tautulli tile");
    assert!(
        tile.contains("Not signed in: Tautulli does not let your account in"),
        "{tile}"
    );
    let books = html
        .split("<li>")
        .find(|li| li.contains("data-tab=\"Books\""))
        .expect("the Books tile");
    assert!(!books.contains("Not signed in"), "{books}");
    assert!(
        !html.contains(&tautulli.base_url()),
        "no server-side URL for people"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_tautulli_settings_name_the_settings_tautulli_really_has() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let (_, page, _) = get(&admin, &app, "/settings/sso/tautulli").await;
    // Tautulli 2.17 has no "Use Plex.tv for sign-in" or "Access Control": its admin login is
    // the HTTP Username/Password, and Plex users need Allow Plex Admin or Allow Guest Access.
    assert!(!page.contains("Use Plex.tv"), "{page}");
    assert!(!page.contains("Access Control"), "{page}");
    for words in ["HTTP Username", "Allow Plex Admin", "Allow Guest Access"] {
        assert!(page.contains(words), "{words} missing");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_app_that_says_too_many_attempts_is_left_alone_as_long_as_it_asked() {
    let app = TestApp::spawn().await;
    let tautulli = FakeTautulli::start(TautulliConfig {
        max_failures: 1,
        ..Default::default()
    })
    .await;
    set_settings(&app, tautulli_settings(&tautulli)).await;
    app.add_user("alice", 0).await;
    // Someone's wrong password (the admin's Test, here) has locked Usher's address out.
    let admin = app.signed_in("root", 0).await;
    let r = admin
        .post(app.url("/api/v2/sso/test/tautulli"))
        .json(&json!({"username": "alice", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(tautulli.failed_sign_ins(), 1);

    login(&app, "alice").await;
    let posts = tautulli.sign_in_posts();
    let client = login(&app, "alice").await;
    assert_eq!(
        tautulli.sign_in_posts(),
        posts,
        "not asked again while locked"
    );
    let row = debug_row(&app, &client, "tautulli").await;
    assert_eq!(row["last"][0]["error_code"], "app_skipped", "{row}");
    assert_eq!(row["skipped"][0]["down"], false, "{row}");
    let hint = row["hint"].as_str().unwrap();
    assert!(
        hint.contains("too many attempts") && hint.contains("Usher tries it again in"),
        "{hint}"
    );
    app.stop().await;
}
