//! Single sign-on as part of signing in, over real HTTP against the app fakes: the cookies each
//! login sets (name, path, HttpOnly), the localStorage hand-over, sign-out deleting exactly what
//! was set, a dead or hanging app never costing the login, the debug area, the admin's Test
//! button, and refresh with a Plex token.

use std::time::Instant;

use reqwest::header::SET_COOKIE;
use reqwest::Response;
use serde_json::{json, Value};

use crate::api_login::{attr, set_settings};
use crate::sso_care::app_row;
use crate::support::fake_apps::jellyfin::{FakeJellyfin, JellyfinConfig};
use crate::support::fake_apps::ombi::{FakeOmbi, OmbiConfig, OmbiUser};
use crate::support::fake_apps::overseerr::{FakeOverseerr, OverseerrConfig, OverseerrUser};
use crate::support::fake_apps::tautulli::{FakeTautulli, TautulliConfig, TautulliUser};
use crate::support::fake_apps::{down_url, random_hex, HANG};
use crate::support::fake_plex::seeded;
use crate::support::plex_app::PlexApp;
use crate::support::{TestApp, PASSWORD};

/// The four app fakes, each knowing alice with the same password (the seed's rule).
struct Apps {
    tautulli: FakeTautulli,
    tautulli_4k: FakeTautulli,
    ombi: FakeOmbi,
    overseerr: FakeOverseerr,
    jellyfin: FakeJellyfin,
}

impl Apps {
    async fn start(plex_token: Option<&str>) -> Apps {
        // Tautulli's admin login is alice's; the Plex friend is a guest there.
        let users: Vec<TautulliUser> = plex_token
            .map(|t| TautulliUser::guest(seeded::FRIEND_A, "friendly", t))
            .into_iter()
            .collect();
        Apps {
            tautulli: FakeTautulli::start(TautulliConfig {
                users: users.clone(),
                ..Default::default()
            })
            .await,
            tautulli_4k: FakeTautulli::start(TautulliConfig {
                root: String::new(),
                users,
                ..Default::default()
            })
            .await,
            ombi: FakeOmbi::start(OmbiConfig {
                api_key: random_hex(16),
                users: vec![OmbiUser {
                    username: "alice".into(),
                    email: "alice@example.com".into(),
                    password: PASSWORD.into(),
                    plex_token: plex_token.map(str::to_string),
                }],
            })
            .await,
            overseerr: FakeOverseerr::start(OverseerrConfig {
                api_key: random_hex(16),
                users: vec![OverseerrUser {
                    id: 3,
                    email: "alice@example.com".into(),
                    password: PASSWORD.into(),
                    plex_token: plex_token.map(str::to_string),
                }],
            })
            .await,
            jellyfin: FakeJellyfin::start(JellyfinConfig::with_users(&[("alice", PASSWORD)])).await,
        }
    }

    fn settings(&self) -> Value {
        json!({
            "sso.tautulli.enabled": true,
            "sso.tautulli.url": format!("{},{}", self.tautulli.base_url(), self.tautulli_4k.base_url()),
            "sso.tautulli.api_key": format!("{},{}", self.tautulli.config.api_key, self.tautulli_4k.config.api_key),
            "sso.tautulli.path": "/tautulli,/tautulli-4k",
            "sso.ombi.enabled": true,
            "sso.ombi.url": self.ombi.base_url(),
            "sso.ombi.token": self.ombi.config.api_key,
            "sso.overseerr.enabled": true,
            "sso.overseerr.url": self.overseerr.base_url(),
            "sso.overseerr.token": self.overseerr.config.api_key,
            "sso.jellyfin.enabled": true,
            "sso.jellyfin.url": self.jellyfin.base_url(),
            "sso.jellyfin.browser_url": "https://usher.example.com/jellyfin",
        })
    }
}

/// Every `Set-Cookie` of a response, by cookie name.
fn set_cookies(r: &Response) -> Vec<(String, String)> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .map(|line| (line.split('=').next().unwrap().to_string(), line))
        .collect()
}

fn cookie<'a>(all: &'a [(String, String)], name: &str) -> &'a str {
    &all.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no Set-Cookie {name} in {all:?}"))
        .1
}

fn value(line: &str) -> &str {
    line.split(';').next().unwrap().split_once('=').unwrap().1
}

fn has_flag(line: &str, flag: &str) -> bool {
    line.split(';').any(|a| a.trim().eq_ignore_ascii_case(flag))
}

#[tokio::test]
async fn a_login_signs_into_every_enabled_app_and_logout_removes_exactly_that() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let apps = Apps::start(None).await;
    set_settings(&app, apps.settings()).await;
    let client = app.client();
    let r = app.login(&client, "alice", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let set = set_cookies(&r);

    let t1 = cookie(&set, &format!("tautulli_token_{}", apps.tautulli.uuid));
    assert_eq!(attr(t1, "Path").as_deref(), Some("/tautulli"));
    assert!(has_flag(t1, "HttpOnly"));
    assert!(
        apps.tautulli.issued(value(t1)),
        "Tautulli issued that token"
    );
    let t2 = cookie(&set, &format!("tautulli_token_{}", apps.tautulli_4k.uuid));
    assert_eq!(attr(t2, "Path").as_deref(), Some("/tautulli-4k"));
    assert!(apps.tautulli_4k.issued(value(t2)));
    let auth = cookie(&set, "Auth");
    assert!(!has_flag(auth, "HttpOnly"), "Ombi's own page reads it");
    let sid = cookie(&set, "connect.sid");
    assert!(has_flag(sid, "HttpOnly"));
    assert_eq!(apps.overseerr.user_of_cookie(value(sid)), Some(3));

    // The localStorage hand-over, same-origin and signed-in only.
    let (status, launch) = app.get_json(&client, "/api/v2/sso/launch").await;
    assert_eq!(status, 200);
    let storage = launch["storage"].as_object().unwrap();
    assert_eq!(storage["id_token"], value(auth));
    let creds: Value =
        serde_json::from_str(storage["jellyfin_credentials"].as_str().unwrap()).unwrap();
    assert_eq!(
        creds["Servers"][0]["ManualAddress"],
        "https://usher.example.com/jellyfin"
    );
    assert!(
        !storage.contains_key("myPlexAccessToken"),
        "Plex SSO is off"
    );
    assert_eq!(
        app.get_json(&app.client(), "/api/v2/sso/launch").await.0,
        401
    );

    // Nothing secret stored in clear: the record has names and paths, not values.
    let db = crate::api_login::db(&app).await;
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT cookies, storage FROM session_sso")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 5);
    for (cookies, storage) in &rows {
        assert!(
            !cookies.contains(value(t1)) && !cookies.contains(value(sid)),
            "{cookies}"
        );
        assert!(storage
            .as_deref()
            .is_none_or(|s| !s.contains("AccessToken")));
    }

    let r = client.post(app.url("/api/v2/logout")).send().await.unwrap();
    let cleared = set_cookies(&r);
    for (name, path) in [
        (
            format!("tautulli_token_{}", apps.tautulli.uuid),
            "/tautulli",
        ),
        (
            format!("tautulli_token_{}", apps.tautulli_4k.uuid),
            "/tautulli-4k",
        ),
        ("Auth".to_string(), "/"),
        ("connect.sid".to_string(), "/"),
    ] {
        let line = cookie(&cleared, &name);
        assert_eq!(attr(line, "Path").as_deref(), Some(path), "{line}");
        assert_eq!(attr(line, "Max-Age").as_deref(), Some("0"), "{line}");
        assert_eq!(value(line), "");
    }
    let body: Value = r.json().await.unwrap();
    let keys: Vec<&str> = body["clear_storage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"id_token") && keys.contains(&"jellyfin_credentials"),
        "{keys:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_dead_or_hanging_app_costs_only_its_own_sso_never_the_login() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let stuck = FakeTautulli::start(TautulliConfig::default()).await;
    stuck.server.control.hang();
    set_settings(
        &app,
        json!({
            "sso.app_timeout_seconds": 1,
            "sso.timeout_seconds": 2,
            "sso.tautulli.enabled": true,
            "sso.tautulli.url": stuck.base_url(),
            "sso.tautulli.api_key": stuck.config.api_key,
            "sso.ombi.enabled": true,
            "sso.ombi.url": down_url().await,
        }),
    )
    .await;
    let client = app.client();
    let began = Instant::now();
    let r = app.login(&client, "alice", PASSWORD).await;
    assert_eq!(r.status(), 200);
    // The stuck app would hold the login for HANG; its own 1 s timeout ends its SSO.
    assert!(
        began.elapsed() < HANG / 2,
        "login took {:?}",
        began.elapsed()
    );
    assert_eq!(app.get_json(&client, "/api/v2/me").await.0, 200);

    let (status, debug) = app.get_json(&client, "/api/v2/sso/debug").await;
    assert_eq!(status, 200, "{debug}");
    let row = |name: &str| app_row(&debug, name);
    let ombi = row("ombi");
    assert_eq!(ombi["url"], false);
    assert_eq!(ombi["last"][0]["error_code"], "app_unreachable");
    assert!(
        ombi["hint"].as_str().unwrap().contains("sso.ombi.url"),
        "{ombi}"
    );
    let tautulli = row("tautulli");
    assert_eq!(tautulli["last"][0]["error_code"], "app_timeout");
    assert_eq!(tautulli["url"], false, "the check times out too");
    app.stop().await;
}

#[tokio::test]
async fn the_debug_area_names_each_failure_and_only_admins_see_others() {
    let app = TestApp::spawn().await;
    let alice = app.add_user("alice", 4).await;
    let apps = Apps::start(None).await;
    let mut settings = apps.settings();
    settings["sso.ombi.token"] = json!("wrong-key");
    settings["sso.jellyfin.enabled"] = json!(false);
    settings["sso.overseerr.min_group"] = json!(2);
    set_settings(&app, settings).await;
    let client = app.client();
    assert_eq!(app.login(&client, "alice", PASSWORD).await.status(), 200);
    let (_, debug) = app.get_json(&client, "/api/v2/sso/debug").await;
    let row = app_row;

    let ombi = row(&debug, "ombi");
    assert_eq!(
        (ombi["url"].clone(), ombi["api"].clone()),
        (json!(true), json!(false))
    );
    assert!(ombi["hint"].as_str().unwrap().contains("API key"), "{ombi}");
    assert_eq!(
        ombi["cookie"], true,
        "the Auth cookie came with this request"
    );
    let jellyfin = row(&debug, "jellyfin");
    assert_eq!(jellyfin["enabled"], false);
    assert!(jellyfin["hint"]
        .as_str()
        .unwrap()
        .contains("sso.jellyfin.enabled"));
    let overseerr = row(&debug, "overseerr");
    assert_eq!(overseerr["group_allowed"], false);
    assert!(overseerr["last"].as_array().unwrap().is_empty());
    let tautulli = row(&debug, "tautulli");
    assert_eq!(
        (tautulli["url"].clone(), tautulli["api"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        tautulli["cookie"],
        Value::Null,
        "path-scoped: never sent to /api"
    );
    assert_eq!(tautulli["hint"], Value::Null, "{tautulli}");
    let plex = row(&debug, "plex");
    assert_eq!(
        (plex["enabled"].clone(), plex["backend"].clone()),
        (json!(false), json!(false))
    );

    // A user missing in the app: the last error says so, with the seed's fix.
    let bob = app.signed_in("bob", 4).await;
    let (_, debug) = app.get_json(&bob, "/api/v2/sso/debug").await;
    let ombi = row(&debug, "ombi");
    assert_eq!(ombi["last"][0]["error_code"], "app_rejected_user");
    assert_eq!(ombi["cookie"], false);

    // Someone else's area: admins only, and without the cookie column.
    let path = format!("/api/v2/sso/debug?user={}", alice.id);
    assert_eq!(app.get_json(&bob, &path).await.0, 403);
    let admin = app.signed_in("root", 0).await;
    let (status, debug) = app.get_json(&admin, &path).await;
    assert_eq!(status, 200);
    assert_eq!(debug["user"], "alice");
    assert_eq!(row(&debug, "ombi")["cookie"], Value::Null);
    assert_eq!(row(&debug, "tautulli")["last"][0]["ok"], true);
    assert_eq!(
        app.get_json(&admin, "/api/v2/sso/debug?user=999999")
            .await
            .0,
        404
    );
    assert_eq!(app.get_json(&admin, "/api/v2/sso/debug?who=1").await.0, 400);
    app.stop().await;
}

#[tokio::test]
async fn the_test_button_tries_an_app_without_signing_anyone_in() {
    let app = TestApp::spawn().await;
    let apps = Apps::start(None).await;
    let mut settings = apps.settings();
    settings["sso.tautulli.enabled"] = json!(false);
    set_settings(&app, settings).await;
    let admin = app.signed_in("root", 0).await;
    let try_it = |path: &str, body: Value| {
        let req = admin.post(app.url(path)).json(&body);
        async move {
            let r = req.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = try_it(
        "/api/v2/sso/test/tautulli",
        json!({"username": "alice", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "both instances, though SSO is still off");
    assert!(results.iter().all(|r| r["ok"] == true), "{body}");
    assert_eq!(results[1]["cookies"][0]["path"], "/tautulli-4k");
    assert!(!body.to_string().contains("eyJ"), "no token in the answer");

    let (_, body) = try_it(
        "/api/v2/sso/test/ombi",
        json!({"username": "alice", "password": "nope"}),
    )
    .await;
    assert_eq!(body["results"][0]["error"]["code"], "app_rejected_user");
    let (status, _) = try_it("/api/v2/sso/test/grafana", json!({"username": "a"})).await;
    assert_eq!(status, 404);
    let sessions = app.core.sessions_of(None).await.unwrap().len();
    assert_eq!(sessions, 1, "only the admin's own session");

    let user = app.signed_in("bob", 4).await;
    let r = user
        .post(app.url("/api/v2/sso/test/ombi"))
        .json(&json!({"username": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn a_plex_sign_in_hands_over_the_plex_token_and_refresh_renews_the_apps() {
    let plex = PlexApp::start().await;
    let friend_token = plex.fake.account(seeded::FRIEND_A).token;
    let apps = Apps::start(Some(&friend_token)).await;
    plex.set(json!({
        "sso.plex.enabled": true,
        "sso.tautulli.enabled": true,
        "sso.tautulli.url": apps.tautulli.base_url(),
        "sso.tautulli.api_key": apps.tautulli.config.api_key,
        "sso.ombi.enabled": true,
        "sso.ombi.url": apps.ombi.base_url(),
    }))
    .await;
    let client = plex.app.client();
    let (status, body) = plex.oauth_as(&client, seeded::FRIEND_A).await;
    assert_eq!(status, 200, "{body}");
    let (_, launch) = plex.app.get_json(&client, "/api/v2/sso/launch").await;
    assert_eq!(
        launch["storage"]["myPlexAccessToken"],
        friend_token.as_str()
    );
    assert!(
        launch["storage"]["id_token"].is_string(),
        "Ombi by Plex token"
    );

    let r = client
        .post(plex.app.url("/api/v2/sso/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set = set_cookies(&r);
    let renewed = cookie(&set, &format!("tautulli_token_{}", apps.tautulli.uuid));
    assert!(apps.tautulli.issued(value(renewed)));
    assert!(set.iter().all(|(n, _)| n != "mpt"), "mpt is off by default");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["apps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["ok"] == true),
        "{body}"
    );

    // A local user under Plex SSO: told why nothing was handed over.
    plex.app.add_user("carol", 4).await;
    let carol = plex.app.client();
    assert_eq!(
        plex.app.login(&carol, "carol", PASSWORD).await.status(),
        200
    );
    let (_, debug) = plex.app.get_json(&carol, "/api/v2/sso/debug").await;
    let row = debug["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["app"] == "plex")
        .unwrap()
        .clone();
    assert_eq!(row["last"][0]["error_code"], "no_credentials", "{row}");
    plex.app.stop().await;
}

#[tokio::test]
async fn a_sign_in_with_browser_items_goes_through_the_hand_over_page_and_refresh_comes_due() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let apps = Apps::start(None).await;
    set_settings(
        &app,
        json!({"sso.ombi.enabled": true, "sso.ombi.url": apps.ombi.base_url()}),
    )
    .await;
    let client = app.client();
    let r = client
        .post(app.url("/api/v2/login"))
        .json(&json!({"username": "alice", "password": PASSWORD, "rd": "/apps/ombi/"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["redirect"], "/sso/handoff?rd=%2Fapps%2Fombi%2F",
        "{body}"
    );
    let page = client
        .get(app.url("/sso/handoff?rd=%2Fapps%2Fombi%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"data-next="/apps/ombi/""#), "{html}");
    assert!(html.contains(r#"<script src="/assets/sso.js">"#));
    // The hand-over page never forwards off-site, and wants a session.
    let evil = client
        .get(app.url("/sso/handoff?rd=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    assert!(evil.text().await.unwrap().contains(r#"data-next="/""#));
    let anonymous = app
        .client()
        .get(app.url("/sso/handoff?rd=%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);

    let (_, launch) = app.get_json(&client, "/api/v2/sso/launch").await;
    assert_eq!(launch["refresh_due"], false, "Ombi's token lasts a year");
    // An hour before Ombi would forget the sign-in, the portal is told to refresh.
    let db = crate::api_login::db(&app).await;
    sqlx::query("UPDATE session_sso SET expires_at = $1")
        .bind(usher::domain::now() + 600)
        .execute(&db)
        .await
        .unwrap();
    let (_, launch) = app.get_json(&client, "/api/v2/sso/launch").await;
    assert_eq!(launch["refresh_due"], true);
    // Without a Plex token or the typed password, refresh keeps what the sign-in set.
    let r = client
        .post(app.url("/api/v2/sso/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["apps"][0]["ok"], true, "{body}");
    assert!(body["storage"]["id_token"].is_string());
    app.stop().await;
}
