//! The friends refresh: a person whose share is removed while signed in loses their Plex sessions
//! within the refresh interval; nobody loses anything while plex.tv is down.

use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::json;

use crate::support::fake_plex::{seeded::*, Mode};
use crate::support::plex_app::{PlexApp, PlexSetup};
use crate::support::PASSWORD;

/// Polls the proxy-auth answer until it is `want` or `within` passes; returns how long it took.
async fn wait_for_proxy(p: &PlexApp, c: &Client, want: u16, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if p.proxy_status(c).await == want {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn signed_in_by_oauth(p: &PlexApp, account: i64) -> Client {
    let c = p.app.client();
    let (status, body) = p.oauth_as(&c, account).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(p.proxy_status(&c).await, 200);
    c
}

#[tokio::test]
async fn a_share_removed_while_signed_in_ends_the_session_within_the_interval() {
    let p = PlexApp::start().await;
    p.set(json!({"plex.friends_refresh_seconds": 1})).await;
    let friend = signed_in_by_oauth(&p, FRIEND_A).await;
    let friend_by_password = p.app.client();
    let (status, _) = p
        .password_login(&friend_by_password, "friendly", "hunter2")
        .await;
    assert_eq!(status, 200);
    let other = signed_in_by_oauth(&p, TWO_FACTOR).await;
    let owner = signed_in_by_oauth(&p, OWNER).await;
    p.app.add_user("alice", 4).await;
    let local = p.app.client();
    assert_eq!(p.app.login(&local, "alice", PASSWORD).await.status(), 200);

    // Several refreshes pass: nothing changes for anyone still allowed.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for c in [&friend, &friend_by_password, &other, &owner, &local] {
        assert_eq!(p.proxy_status(c).await, 200);
    }

    assert!(p.fake.remove_share(FRIEND_A, MACHINE_A));
    let took = wait_for_proxy(&p, &friend, 401, Duration::from_secs(5)).await;
    assert!(
        took.is_some(),
        "the friend's session outlived the refresh interval"
    );
    assert_eq!(
        p.proxy_status(&friend_by_password).await,
        401,
        "every Plex session of theirs"
    );
    assert_eq!(p.me_status(&friend).await, 401);
    for c in [&other, &owner, &local] {
        assert_eq!(p.proxy_status(c).await, 200, "others keep theirs");
    }
    // And they cannot sign in again.
    let (status, _) = p.oauth_as(&p.app.client(), FRIEND_A).await;
    assert_eq!(status, 403);
    let audit = p.app.core.store.audit_recent(50).await.unwrap();
    assert!(
        audit.iter().any(|a| a["action"] == "session.revoke_plex"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn non_strict_keeps_friends_without_a_share_but_not_removed_friends() {
    let p = PlexApp::with(PlexSetup {
        strict: false,
        ..PlexSetup::default()
    })
    .await;
    p.set(json!({"plex.friends_refresh_seconds": 1})).await;
    let friend = signed_in_by_oauth(&p, FRIEND_A).await;
    assert!(p.fake.remove_share(FRIEND_A, MACHINE_A));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        p.proxy_status(&friend).await,
        200,
        "still a friend: enough when not strict"
    );
    p.fake.remove_friend(FRIEND_A);
    assert!(wait_for_proxy(&p, &friend, 401, Duration::from_secs(5))
        .await
        .is_some());
}

#[tokio::test]
async fn turning_strict_on_applies_at_the_next_refresh() {
    let p = PlexApp::with(PlexSetup {
        strict: false,
        ..PlexSetup::default()
    })
    .await;
    p.set(json!({"plex.friends_refresh_seconds": 1})).await;
    let elsewhere = signed_in_by_oauth(&p, FRIEND_B).await;
    let friend = signed_in_by_oauth(&p, FRIEND_A).await;
    p.set(json!({"plex.strict_friends": true})).await;
    assert!(wait_for_proxy(&p, &elsewhere, 401, Duration::from_secs(5))
        .await
        .is_some());
    assert_eq!(p.proxy_status(&friend).await, 200);
}

#[tokio::test]
async fn plex_tv_down_during_refresh_keeps_everyone_signed_in() {
    let p = PlexApp::start().await;
    p.set(json!({"plex.friends_refresh_seconds": 1})).await;
    let friend = signed_in_by_oauth(&p, FRIEND_A).await;
    p.fake.set_mode(Mode::Error500);
    assert!(p.fake.remove_share(FRIEND_A, MACHINE_A));
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(
        p.proxy_status(&friend).await,
        200,
        "no decision without an answer"
    );
    assert!(
        !p.fake.requests_to("/api/users").is_empty(),
        "the refresh did try"
    );
    p.fake.set_mode(Mode::Normal);
    assert!(wait_for_proxy(&p, &friend, 401, Duration::from_secs(5))
        .await
        .is_some());
}

#[tokio::test]
async fn refresh_now_reports_how_many_lost_access() {
    let p = PlexApp::start().await;
    let _friend = signed_in_by_oauth(&p, FRIEND_A).await;
    let _kids = signed_in_by_oauth(&p, MANAGED).await;
    assert_eq!(p.app.core.refresh_plex_access().await.unwrap(), 0);
    p.fake.remove_share(MANAGED, MACHINE_A);
    assert_eq!(p.app.core.refresh_plex_access().await.unwrap(), 1);
    assert_eq!(
        p.app.core.refresh_plex_access().await.unwrap(),
        0,
        "nothing left to revoke"
    );
    // The proxy-auth path never called plex.tv.
    p.fake.clear_requests();
    assert_eq!(p.proxy_status(&_friend).await, 200);
    assert!(p.fake.requests().is_empty());
}
