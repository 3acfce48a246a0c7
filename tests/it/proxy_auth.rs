//! The Organizr-compatible proxy-auth endpoint over real HTTP.

use reqwest::Client;

use crate::support::{TestApp, PASSWORD};

async fn status(app: &TestApp, client: &Client, path: &str) -> u16 {
    client
        .get(app.url(path))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn group_thresholds_for_a_user_of_group_4() {
    let app = TestApp::spawn().await;
    let alice = app.signed_in("alice", 4).await;
    for (path, expected) in [
        ("/api/v2/auth/0", 401),
        ("/api/v2/auth/3", 401),
        ("/api/v2/auth/4", 200),
        ("/api/v2/auth/5", 200),
        ("/api/v2/auth/998", 200),
        ("/api/v2/auth/999", 200),
        ("/api/v2/auth?group=4", 200),
        ("/api/v2/auth?group=1", 401),
        ("/api/v2/auth-4", 200),
        ("/api/v2/auth-0", 401),
        ("/api/v2/organizr-auth/4", 200),
        ("/api/v2/organizr-auth/2", 401),
        ("/api/?v1/auth&group=4", 200),
        ("/api/?v1/auth&group=0", 401),
        // No group named means admins only (Organizr's default), never "everyone".
        ("/api/v2/auth", 401),
        ("/api/v2/auth/", 401),
        ("/api/v2/auth-", 401),
    ] {
        assert_eq!(status(&app, &alice, path).await, expected, "{path}");
    }
}

#[tokio::test]
async fn identity_headers_only_on_a_signed_in_pass() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("Root Admin", 0).await;
    let r = admin.get(app.url("/api/v2/auth/0")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["x-organizr-user"], "Root Admin");
    assert_eq!(h["x-organizr-email"], "root.admin@example.com");
    assert_eq!(h["x-organizr-group"], "0");
    assert_eq!(h["remote-user"], "Root Admin");
    assert_eq!(h["remote-email"], "root.admin@example.com");
    assert_eq!(h["remote-groups"], "Admin");
    assert_eq!(h["remote-name"], "Root Admin");

    // Refused and anonymous answers carry no identity at all.
    let anon = app.client();
    for path in ["/api/v2/auth/0", "/api/v2/auth/998", "/api/v2/auth/999"] {
        let r = anon.get(app.url(path)).send().await.unwrap();
        assert!(r.headers().get("x-organizr-user").is_none(), "{path}");
        assert!(r.headers().get("remote-user").is_none(), "{path}");
    }
    assert_eq!(status(&app, &anon, "/api/v2/auth/998").await, 401);
    assert_eq!(status(&app, &anon, "/api/v2/auth/999").await, 200);
}

#[tokio::test]
async fn any_method_is_answered() {
    let app = TestApp::spawn().await;
    let c = app.signed_in("bob", 2).await;
    for m in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = c
            .request(m.parse().unwrap(), app.url("/api/v2/auth/2"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{m}");
    }
}

#[tokio::test]
async fn malformed_group_path_or_cookie_is_401_never_200_or_5xx() {
    let app = TestApp::spawn().await;
    let c = app.signed_in("carol", 0).await;
    for path in [
        "/api/v2/auth/abc",
        "/api/v2/auth/-1",
        "/api/v2/auth/1000",
        "/api/v2/auth/4.0",
        "/api/v2/auth/%34",
        "/api/v2/auth/4/typo/10.0.0.1",
        "/api/v2/auth/4/allow/not-an-ip",
        "/api/v2/auth/4/allow/10.0.0.0%2F8%00",
        "/api/v2/auth?group=1&group=4",
        "/api/v2/auth?group=4&whitelist=zzz",
        "/api/v2/auth?group=",
        "/api/v2/auth-x",
        "/api/?v1/authz",
        "/api/?something=else",
    ] {
        let s = status(&app, &c, path).await;
        assert_eq!(s, 401, "{path}");
    }
    // Broken cookies: wrong length, bad characters, unknown token, empty, duplicated names.
    let raw = Client::new();
    for cookie in [
        "usher_session=",
        "usher_session=abc",
        "usher_session=%00%00",
        "usher_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "usher_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
        "usher_session=\u{0000}",
        "usher_session",
        "=; ;;; usher_session==",
    ] {
        let r = raw
            .get(app.url("/api/v2/auth/4"))
            .header("cookie", cookie)
            .send()
            .await;
        if let Ok(r) = r {
            assert_eq!(r.status(), 401, "{cookie:?}");
        }
    }
    let long = format!("usher_session={}", "A".repeat(4000));
    let r = raw
        .get(app.url("/api/v2/auth/999"))
        .header("cookie", long)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a guest threshold passes even with junk cookies"
    );
    assert!(r.headers().get("x-organizr-user").is_none());
}

#[tokio::test]
async fn allow_and_deny_lists_in_path_and_query() {
    // The test client is 127.0.0.1; make loopback an untrusted peer so headers cannot matter.
    let app = TestApp::spawn().await;
    let anon = app.client();
    let admin = app.signed_in("dora", 0).await;
    // Allow-listed IP passes without a session and without identity.
    for path in [
        "/api/v2/auth/0/allow/127.0.0.1",
        "/api/v2/auth/0/wl/127.0.0.0/8",
        "/api/v2/auth/0/whitelist/10.0.0.1,127.0.0.1",
        "/api/v2/auth/0/w/::1,127.0.0.2,127.0.0.1",
        "/api/v2/auth?group=0&whitelist=127.0.0.1",
        "/api/v2/auth?group=0&whitelist=127.0.0.0%2F8",
        "/api/v2/auth-0/white/127.0.0.1",
    ] {
        let r = anon.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers().get("x-organizr-user").is_none());
    }
    // Not on the list: normal rules.
    assert_eq!(
        status(&app, &anon, "/api/v2/auth/0/allow/10.0.0.1").await,
        401
    );
    // Deny-listed IP is refused even for an admin.
    for path in [
        "/api/v2/auth/999/deny/127.0.0.1",
        "/api/v2/auth/999/bl/127.0.0.0/8",
        "/api/v2/auth/0/blacklist/127.0.0.1",
        "/api/v2/auth?group=0&blacklist=127.0.0.1",
    ] {
        assert_eq!(status(&app, &admin, path).await, 401, "{path}");
    }
    assert_eq!(
        status(&app, &admin, "/api/v2/auth/0/deny/10.0.0.1").await,
        200
    );
}

#[tokio::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn().await;
    // Nobody is a trusted proxy now: the socket peer (127.0.0.1) is the client.
    let mut patch = serde_json::Map::new();
    patch.insert("trusted_proxies".into(), serde_json::json!(["10.99.0.1"]));
    app.core
        .update_settings(&patch, &usher::auth::accounts::Acting::cli())
        .await
        .unwrap()
        .unwrap();
    let anon = app.client();
    let r = anon
        .get(app.url("/api/v2/auth/0/allow/203.0.113.5"))
        .header("x-forwarded-for", "203.0.113.5")
        .header("x-real-ip", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "spoofed header must not reach the allow list"
    );

    // From a trusted proxy (loopback, the default), X-Real-IP is believed.
    let app = TestApp::spawn().await;
    let r = anon
        .get(app.url("/api/v2/auth/0/allow/203.0.113.5"))
        .header("x-real-ip", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn logout_revoke_lock_delete_and_group_change_take_effect_at_once() {
    let app = TestApp::spawn().await;
    let erin = app.signed_in("erin", 3).await;
    assert_eq!(status(&app, &erin, "/api/v2/auth/3").await, 200);

    // Group change (through the same path the admin API and CLI use).
    let user = app.core.user_by_name("erin").await.unwrap();
    let acting = usher::auth::accounts::Acting::cli();
    let edit = |g: Option<i64>, l: Option<bool>| usher::auth::accounts::EditUser {
        group_id: g,
        locked: l,
        ..Default::default()
    };
    app.core
        .edit_user(user.id, edit(Some(4), None), &acting)
        .await
        .unwrap();
    assert_eq!(status(&app, &erin, "/api/v2/auth/3").await, 401);
    assert_eq!(status(&app, &erin, "/api/v2/auth/4").await, 200);

    app.core
        .edit_user(user.id, edit(None, Some(true)), &acting)
        .await
        .unwrap();
    assert_eq!(status(&app, &erin, "/api/v2/auth/4").await, 401);
    app.core
        .edit_user(user.id, edit(None, Some(false)), &acting)
        .await
        .unwrap();
    assert_eq!(status(&app, &erin, "/api/v2/auth/4").await, 200);

    // Logout ends the session for the proxy at once.
    let r = erin.post(app.url("/api/v2/logout")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status(&app, &erin, "/api/v2/auth/4").await, 401);

    // Revoke by id.
    let erin2 = app.client();
    assert_eq!(app.login(&erin2, "erin", PASSWORD).await.status(), 200);
    assert_eq!(status(&app, &erin2, "/api/v2/auth/4").await, 200);
    let sessions = app.core.sessions_of(Some(user.id)).await.unwrap();
    app.core
        .revoke_session(sessions[0].id, None, &usher::store::Actor::cli())
        .await
        .unwrap();
    assert_eq!(status(&app, &erin2, "/api/v2/auth/4").await, 401);

    // Delete.
    let erin3 = app.client();
    assert_eq!(app.login(&erin3, "erin", PASSWORD).await.status(), 200);
    assert_eq!(status(&app, &erin3, "/api/v2/auth/4").await, 200);
    app.core.delete_user(user.id, &acting).await.unwrap();
    assert_eq!(status(&app, &erin3, "/api/v2/auth/4").await, 401);
}

#[tokio::test]
async fn changes_made_by_another_process_reach_the_cache_within_seconds() {
    let app = TestApp::spawn().await;
    let frank = app.signed_in("frank", 4).await;
    assert_eq!(status(&app, &frank, "/api/v2/auth/4").await, 200);
    // A second Core on the same database stands in for the CLI or another instance: it cannot
    // touch this server's cache, only the store and the change feed.
    let mut config = app.core.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let other = usher::Core::open(config).await.unwrap();
    let user = other.user_by_name("frank").await.unwrap();
    other
        .edit_user(
            user.id,
            usher::auth::accounts::EditUser {
                locked: Some(true),
                ..Default::default()
            },
            &usher::auth::accounts::Acting::cli(),
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if status(&app, &frank, "/api/v2/auth/4").await == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lock from another process not seen within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    other.store.close().await;
}

#[tokio::test]
async fn unicode_usernames_pass_through_headers_unchanged() {
    let app = TestApp::spawn().await;
    let c = app.signed_in("Zoë 日本", 4).await;
    let r = c.get(app.url("/api/v2/auth/4")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-organizr-user"].as_bytes(),
        "Zoë 日本".as_bytes()
    );
}

/// A cookie the store does not know is remembered as unknown for a while, so a stale or sprayed
/// cookie costs one database lookup, not one per request. (A token reaches a browser only after
/// its session is stored, so a row appearing later for it is what this test has to fake.)
#[tokio::test]
async fn an_unknown_cookie_is_looked_up_once() {
    use usher::domain::session::hash_hex;
    use usher::domain::{SessionMethod, SessionToken};
    let app = TestApp::spawn().await;
    let alice = app.add_user("alice", 4).await;
    let token = SessionToken::generate();
    let check = |cookie: String| {
        let req = reqwest::Client::new()
            .get(app.url("/api/v2/auth/4"))
            .header("cookie", format!("usher_session={cookie}"));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(check(token.expose().to_string()).await, 401);
    let new = usher::store::NewSession {
        token_hash: hash_hex(&token.hash()),
        user_id: alice.id,
        expires_at: usher::domain::now() + 3600,
        ip: None,
        user_agent: None,
        remember: false,
        method: SessionMethod::Local,
    };
    app.core
        .store
        .create_session(&new, &usher::store::Actor::default())
        .await
        .unwrap();
    assert_eq!(
        check(token.expose().to_string()).await,
        401,
        "answered from memory, without asking the store again"
    );
    let other = SessionToken::generate();
    let new = usher::store::NewSession {
        token_hash: hash_hex(&other.hash()),
        ..new
    };
    app.core
        .store
        .create_session(&new, &usher::store::Actor::default())
        .await
        .unwrap();
    assert_eq!(
        check(other.expose().to_string()).await,
        200,
        "a token never seen is looked up"
    );
}
