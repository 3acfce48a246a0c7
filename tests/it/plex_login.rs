//! Password sign-in through Plex (`POST /api/v2/login`) per `auth_type`: who may enter under strict
//! and non-strict friends, two-factor codes, throttling, and plex.tv failing or hanging.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::fake_plex::{seeded::*, Mode};
use crate::support::plex_app::{PlexApp, PlexSetup};
use crate::support::{assert_error, PASSWORD};

fn setup(auth_type: &'static str, strict: bool) -> PlexSetup {
    PlexSetup {
        auth_type,
        strict,
        oauth: true,
    }
}

#[tokio::test]
async fn each_seeded_person_by_password_under_strict_and_non_strict() {
    // (login, password, allowed when strict, allowed when not strict)
    let people = [
        ("adminuser", "admin-pass", true, true),
        ("friendly", "hunter2", true, true),
        ("friend@example.com", "hunter2", true, true),
        ("elsewhere", "elsewhere-pass", false, true),
        ("stranger", "stranger-pass", false, false),
    ];
    for strict in [true, false] {
        let p = PlexApp::with(setup("backend", strict)).await;
        for (login, password, if_strict, if_loose) in people {
            let allowed = if strict { if_strict } else { if_loose };
            let (status, body) = p.password_login(&p.app.client(), login, password).await;
            if allowed {
                assert_eq!(status, 200, "{login} strict={strict}: {body}");
                assert!(body["user"]["plex_id"].is_i64(), "{body}");
            } else {
                assert_eq!(status, 403, "{login} strict={strict}: {body}");
                assert_error(&body, "plex_not_allowed");
            }
        }
        // A managed Home user has no password: plex.tv refuses, like any wrong password.
        let (status, body) = p.password_login(&p.app.client(), "Kids", "x").await;
        assert_eq!(status, 401, "{body}");
        assert_error(&body, "invalid_credentials");
    }
}

#[tokio::test]
async fn two_factor_code_is_asked_for_then_accepted() {
    let p = PlexApp::with(setup("backend", true)).await;
    let c = p.app.client();
    let (status, body) = p.password_login(&c, "twofactor", "twofactor-pass").await;
    assert_eq!(status, 422, "{body}");
    assert_error(&body, "two_factor_required");
    let r = p
        .login(
            &c,
            json!({"username": "twofactor", "password": "twofactor-pass", "code": "000000"}),
        )
        .await;
    assert_eq!(r.status(), 401);
    assert_error(&r.json().await.unwrap(), "wrong_two_factor_code");
    let r = p
        .login(
            &c,
            json!({"username": "twofactor", "password": "twofactor-pass", "code": TWO_FACTOR_CODE}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(p.me_status(&c).await, 200);
    let sent = p.fake.requests_to("/api/v2/users/signin");
    assert_eq!(sent.len(), 3, "one plex.tv call per attempt");
}

#[tokio::test]
async fn the_login_page_asks_for_the_two_factor_code() {
    let p = PlexApp::with(setup("backend", true)).await;
    let r = p
        .app
        .client()
        .post(p.app.url("/login"))
        .form(&[
            ("username", "twofactor"),
            ("password", "twofactor-pass"),
            ("rd", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"code\""), "{html}");
    assert!(html.contains("two-factor"), "{html}");
    let r = p
        .app
        .client()
        .post(p.app.url("/login"))
        .form(&[
            ("username", "twofactor"),
            ("password", "twofactor-pass"),
            ("code", TWO_FACTOR_CODE),
            ("rd", "/after"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/after");
}

#[tokio::test]
async fn auth_type_decides_who_checks_the_password() {
    let p = PlexApp::with(setup("local", true)).await;
    p.app.add_user("alice", 4).await;
    let (status, _) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 401, "local only: Plex passwords are not tried");
    assert!(p.fake.requests_to("/api/v2/users/signin").is_empty());
    let (status, _) = p.password_login(&p.app.client(), "alice", PASSWORD).await;
    assert_eq!(status, 200);

    p.set(json!({"auth_type": "backend"})).await;
    let (status, body) = p.password_login(&p.app.client(), "alice", PASSWORD).await;
    assert_eq!(
        status, 401,
        "backend only: the local password is not tried: {body}"
    );
    let (status, _) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 200);

    p.set(json!({"auth_type": "local_and_backend"})).await;
    for (login, password) in [("alice", PASSWORD), ("friendly", "hunter2")] {
        let (status, body) = p.password_login(&p.app.client(), login, password).await;
        assert_eq!(status, 200, "{login}: {body}");
    }
}

#[tokio::test]
async fn local_sign_in_works_while_plex_tv_hangs_and_plex_sign_in_fails_in_time() {
    let p = PlexApp::with(setup("local_and_backend", true)).await;
    p.app.add_user("alice", 4).await;
    p.fake.set_mode(Mode::Hang);
    let started = Instant::now();
    let (status, _) = p.password_login(&p.app.client(), "alice", PASSWORD).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no plex.tv call for a local password"
    );

    let started = Instant::now();
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_error(&body, "plex_unreachable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("plex.tv"),
        "{body}"
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    p.fake.set_mode(Mode::Normal);
}

#[tokio::test]
async fn plex_tv_errors_and_garbage_are_clear_errors_never_a_sign_in() {
    let p = PlexApp::with(setup("backend", true)).await;
    for (mode, status, code) in [
        (Mode::Error500, 502, "plex_unexpected"),
        (Mode::Garbage, 502, "plex_unexpected"),
    ] {
        p.fake.set_mode(mode);
        let c = p.app.client();
        let (got, body) = p.password_login(&c, "friendly", "hunter2").await;
        assert_eq!(got, status, "{mode:?}: {body}");
        assert_error(&body, code);
        assert_eq!(p.me_status(&c).await, 401, "{mode:?}: no session");
    }
    // Sign-in works but the friends list is garbage: refused, not let through.
    p.fake.set_mode(Mode::Normal);
    p.fake.set_route_mode("/api/users", Some(Mode::Garbage));
    let c = p.app.client();
    let (got, body) = p.password_login(&c, "friendly", "hunter2").await;
    assert_eq!(got, 502, "{body}");
    assert_eq!(p.me_status(&c).await, 401);
    p.fake.set_route_mode("/api/users", None);
    let (got, _) = p.password_login(&c, "friendly", "hunter2").await;
    assert_eq!(got, 200);
}

#[tokio::test]
async fn plex_tv_unreachable_is_502_plex_unreachable() {
    let p = PlexApp::with(setup("backend", true)).await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    p.set(json!({"plex.tv_url": url})).await;
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 502, "{body}");
    assert_error(&body, "plex_unreachable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{body}"
    );
}

#[tokio::test]
async fn a_revoked_owner_token_is_reported_as_such() {
    let p = PlexApp::with(setup("backend", true)).await;
    p.fake.revoke_token(OWNER);
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 502, "{body}");
    assert_error(&body, "plex_admin_token_invalid");
    // The owner named in plex.admin still gets in (no friends list needed).
    p.set(json!({"plex.admin": "Admin@Example.com"})).await;
    let (status, body) = p
        .password_login(&p.app.client(), "adminuser", "admin-pass")
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn plex_failures_count_towards_the_throttle() {
    let p = PlexApp::with(setup("backend", true)).await;
    p.set(json!({"login.max_failures_per_user": 2})).await;
    for _ in 0..2 {
        let (status, _) = p.password_login(&p.app.client(), "friendly", "wrong").await;
        assert_eq!(status, 401);
    }
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        p.fake.requests_to("/api/v2/users/signin").len(),
        2,
        "no plex.tv call while throttled"
    );
}

#[tokio::test]
async fn every_plex_tv_call_identifies_this_install() {
    let p = PlexApp::with(setup("backend", true)).await;
    let (status, _) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 200);
    let id = p.app.core.plex.client_identifier().to_string();
    let stored = p
        .app
        .core
        .store
        .meta_get("plex_client_identifier")
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(id.as_str()), "kept in the database");
    let requests = p.fake.requests();
    assert!(requests.len() >= 3, "{requests:?}");
    for r in requests {
        assert_eq!(
            r.header("x-plex-client-identifier"),
            Some(id.as_str()),
            "{r:?}"
        );
        assert_eq!(r.header("x-plex-product"), Some("Usher"), "{r:?}");
    }
}

/// Organizr's weakness §8.8: a backend sign-in overwrote the local password with the Plex one,
/// and an old local password kept working after the Plex password changed. Usher never stores a
/// Plex password: with plex.tv failing, or with the backend switched off, it signs nobody in.
#[tokio::test]
async fn a_plex_password_never_becomes_a_local_one() {
    let p = PlexApp::with(setup("local_and_backend", true)).await;
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 200, "{body}");
    let pool = crate::api_login::db(&p.app).await;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = $1")
            .bind("friendly")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(stored, None, "no local copy of the Plex password");

    p.fake.set_mode(Mode::Error500);
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_ne!(status, 200, "plex.tv down: no local fallback: {body}");

    p.fake.set_mode(Mode::Normal);
    p.set(json!({"auth_type": "local"})).await;
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(
        status, 401,
        "backend off: the Plex password is nothing here: {body}"
    );
}
