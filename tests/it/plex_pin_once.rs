//! A Plex PIN signs in once: replaying the pending cookie (poll or `/plex/return`) after the
//! session was made is 410, two racing polls make one session; plex.tv is asked about a PIN at
//! most once a second however often the page polls; and the `forwardUrl` says https only when a
//! trusted proxy does.

use reqwest::Response;
use serde_json::{json, Value};

use crate::api_login::{bare, cookie_named, cookie_value, set_cookies};
use crate::support::fake_plex::seeded::*;
use crate::support::plex_app::PlexApp;
use crate::support::{assert_error, TestApp};

/// Starts a sign-in PIN with a cookie-less client: the PIN id and the pending cookie's value.
pub(crate) async fn started(p: &PlexApp) -> (i64, String) {
    let r = bare()
        .post(p.app.url("/api/v2/plex/pin"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = cookie_value(&cookie_named(&r, "usher_plex_pin"));
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    (id, cookie)
}

/// `GET path` with the pending cookie sent by hand (as an attacker holding it would).
pub(crate) async fn with_cookie(app: &TestApp, path: &str, cookie: &str) -> Response {
    bare()
        .get(app.url(path))
        .header("cookie", format!("usher_plex_pin={cookie}"))
        .send()
        .await
        .unwrap()
}

pub(crate) fn makes_session(r: &Response) -> bool {
    set_cookies(r)
        .iter()
        .any(|c| c.starts_with("usher_session="))
}

#[tokio::test]
async fn a_replayed_pin_cookie_makes_no_second_session() {
    let p = PlexApp::start().await;
    let (id, cookie) = started(&p).await;
    assert!(p.fake.approve_pin(id, FRIEND_A));
    let poll = format!("/api/v2/plex/pin/{id}");
    let r = with_cookie(&p.app, &poll, &cookie).await;
    assert_eq!(r.status(), 200);
    assert!(makes_session(&r));

    // The same cookie again, right away and once plex.tv could be asked again.
    for wait in [false, true] {
        if wait {
            p.wait_pin_check().await;
        }
        let r = with_cookie(&p.app, &poll, &cookie).await;
        assert_eq!(r.status(), 410, "replayed poll (waited: {wait})");
        assert!(!makes_session(&r));
        assert_error(&r.json().await.unwrap(), "pin_used");
        let r = with_cookie(&p.app, &format!("/plex/return?pin={id}"), &cookie).await;
        assert_eq!(r.status(), 410, "replayed return (waited: {wait})");
        assert!(!makes_session(&r));
    }
    assert_eq!(friend_sessions(&p).await, 1, "one session in the database");
    // The audit log has the sign-in, with its method.
    let entries = p.app.core.store.audit_recent(50).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "login.success" && e["detail"]["method"] == "plex_oauth"),
        "{entries:#?}"
    );
    // And every replay as a refused sign-in (written in the background: give it a moment).
    let mut replays = 0;
    for _ in 0..50 {
        let entries = p.app.core.store.audit_recent(50).await.unwrap();
        replays = entries
            .iter()
            .filter(|e| {
                e["action"] == "login.failure"
                    && e["detail"]["reason"] == "Plex sign-in already used"
            })
            .count();
        if replays == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(replays, 4, "two polls and two returns replayed");
}

/// How many sessions FRIEND_A's local user has.
pub(crate) async fn friend_sessions(p: &PlexApp) -> usize {
    let store = &p.app.core.store;
    let user = store.find_user_by_plex_id(FRIEND_A).await.unwrap().unwrap();
    store.list_sessions(Some(user.id)).await.unwrap().len()
}

#[tokio::test]
async fn two_racing_polls_of_an_approved_pin_make_one_session() {
    let p = PlexApp::start().await;
    let (id, cookie) = started(&p).await;
    assert!(p.fake.approve_pin(id, FRIEND_A));
    let poll = format!("/api/v2/plex/pin/{id}");
    let (a, b) = tokio::join!(
        with_cookie(&p.app, &poll, &cookie),
        with_cookie(&p.app, &poll, &cookie)
    );
    let made = [&a, &b].iter().filter(|r| makes_session(r)).count();
    assert_eq!(made, 1, "{} and {}", a.status(), b.status());
    assert_eq!(friend_sessions(&p).await, 1);
}

#[tokio::test]
async fn plex_tv_is_asked_about_a_pin_at_most_once_a_second() {
    let p = PlexApp::start().await;
    let (id, cookie) = started(&p).await;
    let poll = format!("/api/v2/plex/pin/{id}");
    let checks = || p.fake.requests_to(&format!("/api/v2/pins/{id}")).len();
    for _ in 0..5 {
        assert_eq!(with_cookie(&p.app, &poll, &cookie).await.status(), 202);
    }
    assert_eq!(checks(), 1, "five polls in a row, one plex.tv check");

    p.wait_pin_check().await;
    assert_eq!(with_cookie(&p.app, &poll, &cookie).await.status(), 202);
    assert_eq!(checks(), 2, "a second later plex.tv is asked again");

    // Approved in between: the answer waits for the next check, then signs in.
    assert!(p.fake.approve_pin(id, FRIEND_A));
    assert_eq!(with_cookie(&p.app, &poll, &cookie).await.status(), 202);
    assert_eq!(checks(), 2);
    p.wait_pin_check().await;
    let r = with_cookie(&p.app, &poll, &cookie).await;
    assert_eq!(r.status(), 200);
    assert_eq!(checks(), 3);
}

/// The `forwardUrl` plex.tv's page will send the browser back to, from `/plex/start`.
async fn forward_url(p: &PlexApp, proto: Option<&str>) -> String {
    let mut req = bare().get(p.app.url("/plex/start"));
    if let Some(proto) = proto {
        req = req.header("x-forwarded-proto", proto);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let (_, encoded) = to.split_once("forwardUrl=").expect("a forwardUrl");
    let encoded = encoded.split('&').next().unwrap();
    url::form_urlencoded::parse(format!("u={encoded}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn the_forward_url_says_https_only_when_a_trusted_proxy_does() {
    let p = PlexApp::start().await;
    let host = p.app.url("").trim_start_matches("http://").to_string();
    let host = host.trim_end_matches('/');
    // The test client connects from 127.0.0.1, a trusted proxy by default.
    assert!(forward_url(&p, None)
        .await
        .starts_with(&format!("http://{host}/plex/return?pin=")));
    let https = forward_url(&p, Some("https")).await;
    assert!(
        https.starts_with(&format!("https://{host}/plex/return?pin=")),
        "{https}"
    );
    // The JSON API's redirect flow builds it the same way.
    let r = bare()
        .post(p.app.url("/api/v2/plex/pin"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"redirect": true}))
        .send()
        .await
        .unwrap();
    let auth_url = r.json::<Value>().await.unwrap()["auth_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(auth_url.contains("forwardUrl=https%3A%2F%2F"), "{auth_url}");

    // From a peer that is not a trusted proxy the header is anybody's word: ignored.
    p.set(json!({"trusted_proxies": ["10.0.0.0/8"]})).await;
    let http = forward_url(&p, Some("https")).await;
    assert!(http.starts_with(&format!("http://{host}/")), "{http}");

    // public_url wins over any header.
    p.set(json!({"public_url": "https://usher.example.com/"}))
        .await;
    let public = forward_url(&p, Some("http")).await;
    assert!(
        public.starts_with("https://usher.example.com/plex/return?pin="),
        "{public}"
    );
}
