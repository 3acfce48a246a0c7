//! Sign in with Plex through the PIN flow: the popup + poll path, the full-page redirect path,
//! each seeded person, expired PINs, PINs polled from another browser, plex.tv failing.

use serde_json::{json, Value};

use crate::api_login::{attr, cookie_named, set_cookies};
use crate::support::assert_error;
use crate::support::fake_plex::{seeded::*, Mode};
use crate::support::plex_app::{PlexApp, PlexSetup};

fn setup(strict: bool) -> PlexSetup {
    PlexSetup {
        auth_type: "local_and_backend",
        strict,
        oauth: true,
    }
}

/// `name=value` of the Plex PIN cookie a response sets.
fn pin_cookie(r: &reqwest::Response) -> String {
    cookie_named(r, "usher_plex_pin")
}

#[tokio::test]
async fn popup_flow_signs_in_and_binds_the_pin_to_the_browser() {
    let p = PlexApp::start().await;
    let c = p.app.client();
    let r = c
        .post(p.app.url("/api/v2/plex/pin"))
        .json(&json!({"rd": "/tautulli/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = pin_cookie(&r);
    assert_eq!(attr(&cookie, "HttpOnly"), Some(String::new()), "{cookie}");
    assert_eq!(
        attr(&cookie, "SameSite").as_deref(),
        Some("Lax"),
        "{cookie}"
    );
    let max_age: i64 = attr(&cookie, "Max-Age").unwrap().parse().unwrap();
    assert!((60..=1800).contains(&max_age), "short-lived: {cookie}");
    let body: Value = r.json().await.unwrap();
    let id = body["id"].as_i64().unwrap();
    let auth_url = body["auth_url"].as_str().unwrap();
    let pin = p
        .fake
        .pins()
        .into_iter()
        .find(|x| x.id == id)
        .expect("pin at plex.tv");
    assert!(
        auth_url.starts_with(&format!("{}#?", p.fake.auth_url())),
        "{auth_url}"
    );
    assert!(
        auth_url.contains(&format!("code={}", pin.code)),
        "{auth_url}"
    );
    let client_id = p.app.core.plex.client_identifier();
    assert!(
        auth_url.contains(&format!("clientID={client_id}")),
        "{auth_url}"
    );
    assert!(
        auth_url.contains("context%5Bdevice%5D%5Bproduct%5D=Usher"),
        "{auth_url}"
    );
    assert!(
        !auth_url.contains("forwardUrl"),
        "popup flow: no forwardUrl"
    );
    assert_eq!(pin.client_id, client_id, "created with our client id");
    let created = &p.fake.requests_to("/api/v2/pins")[0];
    assert_eq!(created.query.as_deref(), Some("strong=true"));

    let r = p.poll_pin(&c, id).await;
    assert_eq!(r.status(), 202);
    assert!(set_cookies(&r).is_empty(), "nothing set while pending");
    assert_eq!(p.me_status(&c).await, 401);

    assert!(p.fake.approve_pin(id, FRIEND_A));
    p.wait_pin_check().await;
    let r = p.poll_pin(&c, id).await;
    assert_eq!(r.status(), 200);
    let cleared = pin_cookie(&r);
    assert_eq!(
        attr(&cleared, "Max-Age").as_deref(),
        Some("0"),
        "pending cookie cleared"
    );
    cookie_named(&r, "usher_session");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["plex_id"], FRIEND_A);
    assert_eq!(body["redirect"], "/tautulli/");
    let (status, me) = p.app.get_json(&c, "/api/v2/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["username"], "friendly");
    assert_eq!(me["sessions"][0]["method"], "plex_oauth");
    assert_eq!(p.proxy_status(&c).await, 200);
    // Usher polled plex.tv with the same client id and no token.
    for poll in p.fake.requests_to(&format!("/api/v2/pins/{id}")) {
        assert_eq!(poll.header("x-plex-client-identifier"), Some(client_id));
        assert_eq!(poll.header("x-plex-token"), None);
    }
    // The PIN is finished: the same cookie jar no longer holds it.
    assert_eq!(p.poll_pin(&c, id).await.status(), 404);
}

#[tokio::test]
async fn each_seeded_person_by_oauth_under_strict_and_non_strict() {
    // (account, allowed when strict, allowed when not strict)
    let people = [
        (OWNER, true, true),
        (FRIEND_A, true, true),
        (FRIEND_B, false, true),
        (MANAGED, true, true),
        (TWO_FACTOR, true, true),
        (STRANGER, false, false),
    ];
    for strict in [true, false] {
        let p = PlexApp::with(setup(strict)).await;
        for (account, if_strict, if_loose) in people {
            let allowed = if strict { if_strict } else { if_loose };
            let c = p.app.client();
            let (status, body) = p.oauth_as(&c, account).await;
            if allowed {
                assert_eq!(status, 200, "{account} strict={strict}: {body}");
                assert_eq!(body["user"]["plex_id"], account);
                assert_eq!(p.proxy_status(&c).await, 200);
            } else {
                assert_eq!(status, 403, "{account} strict={strict}: {body}");
                assert_error(&body, "plex_not_allowed");
                assert_eq!(p.me_status(&c).await, 401);
            }
        }
    }
}

#[tokio::test]
async fn a_managed_home_user_gets_an_account_named_after_its_title() {
    let p = PlexApp::start().await;
    let (status, body) = p.oauth_as(&p.app.client(), MANAGED).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "Kids");
    assert_eq!(body["user"]["email"], Value::Null);
    assert_eq!(body["user"]["group_id"], 4);
}

#[tokio::test]
async fn an_expired_pin_is_410_and_a_foreign_one_404() {
    let p = PlexApp::start().await;
    let mine = p.app.client();
    let (_, pin) = p.start_pin(&mine, json!({})).await;
    let id = pin["id"].as_i64().unwrap();

    // Another browser (its own cookie jar) polling my PIN: not found, even once approved.
    let other = p.app.client();
    assert_eq!(p.poll_pin(&other, id).await.status(), 404);
    assert!(p.fake.approve_pin(id, FRIEND_A));
    let r = p.poll_pin(&other, id).await;
    assert_eq!(r.status(), 404);
    assert_error(&r.json().await.unwrap(), "pin_not_found");
    assert_eq!(p.me_status(&other).await, 401);
    // A browser with a PIN of its own cannot use it for mine either.
    let (_, theirs) = p.start_pin(&other, json!({})).await;
    assert_ne!(theirs["id"], pin["id"]);
    assert_eq!(p.poll_pin(&other, id).await.status(), 404);

    // Expired at plex.tv before anyone approved it: 410, and the cookie goes.
    let (_, late) = p.start_pin(&mine, json!({})).await;
    let late_id = late["id"].as_i64().unwrap();
    p.fake.expire_pin(late_id);
    let r = p.poll_pin(&mine, late_id).await;
    assert_eq!(r.status(), 410);
    assert_eq!(attr(&pin_cookie(&r), "Max-Age").as_deref(), Some("0"));
    assert_error(&r.json().await.unwrap(), "pin_expired");
    assert_eq!(p.me_status(&mine).await, 401);
}

#[tokio::test]
async fn a_forged_or_tampered_pin_cookie_is_not_accepted() {
    let p = PlexApp::start().await;
    let c = p.app.client();
    let r = c
        .post(p.app.url("/api/v2/plex/pin"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let cookie = crate::api_login::cookie_value(&pin_cookie(&r));
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert!(p.fake.approve_pin(id, FRIEND_A));
    let bare = crate::api_login::bare();
    let mut tampered = cookie.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    for value in [
        String::from_utf8(tampered).unwrap(),
        "garbage".into(),
        String::new(),
    ] {
        let r = bare
            .get(p.app.url(&format!("/api/v2/plex/pin/{id}")))
            .header("cookie", format!("usher_plex_pin={value}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{value}");
    }
    // The genuine cookie, sent by hand, works.
    let r = bare
        .get(p.app.url(&format!("/api/v2/plex/pin/{id}")))
        .header("cookie", format!("usher_plex_pin={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn redirect_flow_returns_through_forward_url() {
    let p = PlexApp::start().await;
    let c = p.app.client();
    let r = c
        .get(p.app.url("/plex/start?rd=%2Fsonarr%2F&remember=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    pin_cookie(&r);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with(&p.fake.auth_url()), "{to}");
    let pin = p.fake.pins().pop().unwrap();
    let forward = format!("{}/plex/return?pin={}", p.app.url(""), pin.id);
    let encoded: String = url::form_urlencoded::byte_serialize(forward.as_bytes()).collect();
    assert!(
        to.contains(&format!("forwardUrl={}", encoded.replace('+', "%20"))),
        "{to} vs {forward}"
    );

    // Coming back before approving: not signed in, asked to wait.
    let r = c.get(&forward).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(p.me_status(&c).await, 401);

    assert!(p.fake.approve_pin(pin.id, FRIEND_A));
    p.wait_pin_check().await;
    let r = c.get(&forward).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/sonarr/");
    let session = cookie_named(&r, "usher_session");
    let max_age: i64 = attr(&session, "Max-Age").unwrap().parse().unwrap();
    assert_eq!(max_age, 7 * 86400, "remember=1 kept through plex.tv");
    assert_eq!(p.me_status(&c).await, 200);
}

#[tokio::test]
async fn redirect_flow_refuses_strangers_and_unsafe_return_addresses() {
    let p = PlexApp::start().await;
    let c = p.app.client();
    let r = c
        .get(p.app.url("/plex/start?rd=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let pin = p.fake.pins().pop().unwrap();
    assert!(p.fake.approve_pin(pin.id, FRIEND_A));
    let r = c
        .get(p.app.url(&format!("/plex/return?pin={}", pin.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/", "an unsafe rd becomes /");

    let c = p.app.client();
    c.get(p.app.url("/plex/start")).send().await.unwrap();
    let pin = p.fake.pins().pop().unwrap();
    assert!(p.fake.approve_pin(pin.id, STRANGER));
    let r = c
        .get(p.app.url(&format!("/plex/return?pin={}", pin.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("may not sign in"));
    assert_eq!(p.me_status(&c).await, 401);
}

#[tokio::test]
async fn oauth_off_or_local_auth_hides_the_button_and_refuses_pins() {
    let p = PlexApp::with(PlexSetup {
        oauth: false,
        ..setup(true)
    })
    .await;
    let c = p.app.client();
    let page = c
        .get(p.app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Sign in with Plex"));
    let (status, body) = p.start_pin(&c, json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "plex_not_configured");
    assert_eq!(
        c.get(p.app.url("/plex/start"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert!(p.fake.requests_to("/api/v2/pins").is_empty());

    p.set(json!({"plex.oauth": true})).await;
    let page = c
        .get(p.app.url("/login?rd=/x"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with Plex"), "{page}");
    assert!(page.contains("href=\"/plex/start?rd=%2Fx\""), "{page}");
    assert!(page.contains("/assets/plex-login.js"));
    let js = c
        .get(p.app.url("/assets/plex-login.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.text().await.unwrap().contains("/api/v2/plex/pin"));

    p.set(json!({"auth_type": "local"})).await;
    let (status, _) = p.start_pin(&c, json!({})).await;
    assert_eq!(status, 503, "the backend is off");
}

#[tokio::test]
async fn plex_tv_failing_during_the_flow_is_a_clear_error_and_keeps_the_pin() {
    let p = PlexApp::start().await;
    let c = p.app.client();
    p.fake.set_mode(Mode::Error500);
    let (status, body) = p.start_pin(&c, json!({})).await;
    assert_eq!(status, 502, "{body}");
    assert_error(&body, "plex_unexpected");
    p.fake.set_mode(Mode::Normal);
    let (_, pin) = p.start_pin(&c, json!({})).await;
    let id = pin["id"].as_i64().unwrap();
    p.fake.set_mode(Mode::Garbage);
    let r = p.poll_pin(&c, id).await;
    assert_eq!(r.status(), 502);
    assert!(
        set_cookies(&r).is_empty(),
        "the PIN survives a plex.tv hiccup"
    );
    p.fake.set_mode(Mode::Hang);
    p.wait_pin_check().await;
    let r = p.poll_pin(&c, id).await;
    assert_eq!(r.status(), 504);
    p.fake.set_mode(Mode::Normal);
    assert!(p.fake.approve_pin(id, FRIEND_A));
    // Approved, but the token check answers garbage: no session.
    p.fake.set_route_mode("/api/v2/user", Some(Mode::Garbage));
    let r = p.poll_pin(&c, id).await;
    assert_eq!(r.status(), 502);
    assert_eq!(p.me_status(&c).await, 401);
    p.fake.set_route_mode("/api/v2/user", None);
    p.wait_pin_check().await;
    assert_eq!(p.poll_pin(&c, id).await.status(), 200);
}

#[tokio::test]
async fn pin_creation_is_limited_per_client_address() {
    let p = PlexApp::start().await;
    let c = p.app.client();
    let start = |ip: &'static str| {
        c.post(p.app.url("/api/v2/plex/pin"))
            .header("x-forwarded-for", ip)
            .json(&json!({}))
            .send()
    };
    for _ in 0..30 {
        assert_eq!(start("203.0.113.5").await.unwrap().status(), 201);
    }
    let r = start("203.0.113.5").await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    assert_error(&r.json().await.unwrap(), "too_many_attempts");
    assert_eq!(
        p.fake.requests_to("/api/v2/pins").len(),
        30,
        "plex.tv spared"
    );
    assert_eq!(
        start("203.0.113.6").await.unwrap().status(),
        201,
        "others unaffected"
    );
    let page = c
        .get(p.app.url("/plex/start"))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
}
