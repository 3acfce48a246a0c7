//! What Usher's OpenID Connect provider refuses, each asserted as a relying party sees it: the
//! RFC 6749 error on the token endpoint, the error redirect (only to a registered URI), Usher's
//! own page, userinfo's 401.

use openidconnect::OAuth2TokenResponse;
use usher::auth::accounts::{Acting, EditUser};

use crate::oidc::{
    auth_request, authorize, provider, register, relying_party, sign_in, token_raw, userinfo_raw,
    REDIRECT,
};
use crate::support::TestApp;

/// A signed-in browser's code for `client` (PKCE), with its verifier.
async fn code_for(
    app: &TestApp,
    browser: &reqwest::Client,
    client: &str,
    secret: Option<String>,
) -> (String, String) {
    let rp = relying_party(app, client, secret).await;
    let (url, _, _, verifier) = auth_request(&rp, &["profile"]);
    let q = authorize(browser, &url).await;
    (q["code"].clone(), verifier.secret().clone())
}

/// Exchanges a code by hand; status and body.
async fn exchange(
    app: &TestApp,
    client: &str,
    secret: &str,
    code: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    token_raw(app, &form, Some((client, secret))).await
}

async fn refresh(
    app: &TestApp,
    client: &str,
    secret: &str,
    token: &str,
) -> (u16, serde_json::Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    token_raw(app, &form, Some((client, secret))).await
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_usher_s_own_400_page_never_a_redirect() {
    let app = provider().await;
    register(&app, "grafana", false, None).await;
    let browser = app.signed_in("alice", 4).await;
    for uri in [
        "https://evil.example.com/cb",
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.1:9/callbacK",
    ] {
        let url = format!(
            "{}?client_id=grafana&response_type=code&scope=openid&state=s&redirect_uri={}",
            app.url("/oidc/authorize"),
            url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        );
        let r = browser.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{uri}");
        assert!(r.headers().get("location").is_none(), "{uri} redirected");
        assert!(r.text().await.unwrap().contains("not registered"));
    }
    let r = browser
        .get(app.url("/oidc/authorize?client_id=nobody&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    app.stop().await;
}

#[tokio::test]
async fn wrong_client_secret_pkce_mismatch_expired_and_reused_codes_are_refused() {
    let app = provider().await;
    let secret = register(&app, "grafana", false, None).await.unwrap();
    let browser = app.signed_in("alice", 4).await;

    // Wrong secret: 401 invalid_client with a Basic challenge; the code is not spent.
    let (code, verifier) = code_for(&app, &browser, "grafana", Some(secret.clone())).await;
    let (status, body) = exchange(&app, "grafana", "not-the-secret", &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // PKCE mismatch.
    let wrong = "x".repeat(43);
    let (status, body) = exchange(&app, "grafana", &secret, &code, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    // Reused code: the second use fails and revokes what the first one issued.
    let (code, verifier) = code_for(&app, &browser, "grafana", Some(secret.clone())).await;
    let (status, first) = exchange(&app, "grafana", &secret, &code, &verifier).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo_raw(&app, access).await.0, 200);
    let (status, body) = exchange(&app, "grafana", &secret, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo_raw(&app, access).await.0,
        401,
        "first use's token survived"
    );
    let r = refresh(
        &app,
        "grafana",
        &secret,
        first["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(r.1["error"], "invalid_grant");

    // Expired code (made to look 61 s old in the store).
    let (code, verifier) = code_for(&app, &browser, "grafana", Some(secret.clone())).await;
    let pool = crate::api_login::db(&app).await;
    sqlx::query("UPDATE oidc_codes SET expires_at = expires_at - 61 WHERE used_at IS NULL")
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = exchange(&app, "grafana", &secret, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
    app.stop().await;
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_whole_family() {
    let app = provider().await;
    let secret = register(&app, "grafana", false, None).await.unwrap();
    let browser = app.signed_in("alice", 4).await;
    let (code, verifier) = code_for(&app, &browser, "grafana", Some(secret.clone())).await;
    let (_, first) = exchange(&app, "grafana", &secret, &code, &verifier).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&app, "grafana", &secret, r1).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    let a2 = second["access_token"].as_str().unwrap();
    // The rotated r1 comes back (stolen?): refused, and r2 and its access token die with it.
    let (status, body) = refresh(&app, "grafana", &secret, r1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        refresh(&app, "grafana", &secret, r2).await.1["error"],
        "invalid_grant"
    );
    assert_eq!(userinfo_raw(&app, a2).await.0, 401);
    app.stop().await;
}

#[tokio::test]
async fn a_group_above_the_client_s_limit_gets_access_denied() {
    let app = provider().await;
    let secret = register(&app, "sonarr", false, Some(2)).await;
    let browser = app.signed_in("user4", 4).await;
    let rp = relying_party(&app, "sonarr", secret).await;
    let (url, state, _, _) = auth_request(&rp, &[]);
    let q = authorize(&browser, &url).await;
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], *state.secret());
    assert_eq!(q["iss"], app.url(""), "RFC 9207: the issuer answers");
    assert!(!q.contains_key("code"));
    app.stop().await;
}

#[tokio::test]
async fn prompt_none_without_a_session_answers_login_required_and_others_go_to_sign_in() {
    let app = provider().await;
    let secret = register(&app, "grafana", false, None).await;
    let rp = relying_party(&app, "grafana", secret).await;
    let (url, state, _, _) = auth_request(&rp, &[]);
    let nobody = app.client();
    let q = authorize(&nobody, &format!("{url}&prompt=none")).await;
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], *state.secret());

    // Without prompt=none: Usher's sign-in page, coming back to this request afterwards.
    let r = nobody.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/login?rd=%2Foidc%2Fauthorize%3F"),
        "{location}"
    );
    app.add_user("dora", 4).await;
    let r = nobody
        .post(app.url("/login"))
        .form(&[
            ("username", "dora"),
            ("password", crate::support::PASSWORD),
            ("rd", &rd_of(&location)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // Through the hand-over page: a form's redirects may not leave Usher's origin (CSP).
    let handoff = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        handoff.starts_with("/sso/handoff?rd=%2Foidc%2Fauthorize%3F"),
        "{handoff}"
    );
    let back = rd_of(&handoff);
    let q = authorize(&nobody, &app.url(&back)).await;
    assert!(q.contains_key("code"), "{q:?}");
    app.stop().await;
}

fn rd_of(location: &str) -> String {
    let url = url::Url::parse(&format!("http://x{location}")).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "rd")
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn prompt_login_asks_a_signed_in_person_to_sign_in_again() {
    let app = provider().await;
    let secret = register(&app, "grafana", false, None).await;
    let rp = relying_party(&app, "grafana", secret).await;
    let browser = app.signed_in("erin", 4).await;
    // The session must begin in an earlier second than the request (auth_time is in seconds).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (url, _, _, _) = auth_request(&rp, &[]);
    let r = browser
        .get(format!("{url}&prompt=login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("&fresh=1"), "{location}");
    // The sign-in page shows its form although a session exists.
    let page = app.get_text(&browser, &location).await;
    assert!(page.contains("name=\"password\""), "no form");
    let back = rd_of(&location);
    assert!(
        !back.contains("prompt=login") && back.contains("usher_fresh="),
        "{back}"
    );
    // Coming back with the old session does not pass: it began before the request.
    let r = browser.get(app.url(&back)).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
    app.stop().await;
}

#[tokio::test]
async fn locked_demoted_or_signed_out_people_lose_their_tokens_at_once() {
    let app = provider().await;
    let secret = register(&app, "grafana", false, None).await.unwrap();
    let mut cases = Vec::new();
    for (name, group) in [("locked", 3), ("demoted", 2), ("signedout", 4)] {
        let browser = app.signed_in(name, group).await;
        let (code, verifier) = code_for(&app, &browser, "grafana", Some(secret.clone())).await;
        let (status, t) = exchange(&app, "grafana", &secret, &code, &verifier).await;
        assert_eq!(status, 200);
        assert_eq!(
            userinfo_raw(&app, t["access_token"].as_str().unwrap())
                .await
                .0,
            200
        );
        cases.push((name, browser, t));
    }
    let locked = app.core.user_by_name("locked").await.unwrap();
    let edit = EditUser {
        locked: Some(true),
        ..Default::default()
    };
    app.core
        .edit_user(locked.id, edit, &Acting::cli())
        .await
        .unwrap();
    let demoted = app.core.user_by_name("demoted").await.unwrap();
    let edit = EditUser {
        group_id: Some(4),
        ..Default::default()
    };
    app.core
        .edit_user(demoted.id, edit, &Acting::cli())
        .await
        .unwrap();
    let r = cases[2]
        .1
        .post(app.url("/api/v2/logout"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    for (name, _, t) in &cases {
        let (status, _) = userinfo_raw(&app, t["access_token"].as_str().unwrap()).await;
        assert_eq!(status, 401, "{name}: userinfo still answers");
        let (status, body) = refresh(
            &app,
            "grafana",
            &secret,
            t["refresh_token"].as_str().unwrap(),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{name}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn revocation_ends_a_refresh_token_and_its_access_tokens() {
    let app = provider().await;
    let secret = register(&app, "grafana", false, None).await.unwrap();
    let browser = app.signed_in("alice", 4).await;
    let rp = relying_party(&app, "grafana", Some(secret.clone())).await;
    let (t, _) = sign_in(&rp, &browser, &[]).await;
    let r = reqwest::Client::new()
        .post(app.url("/oidc/revoke"))
        .basic_auth("grafana", Some(&secret))
        .form(&[("token", t.refresh_token().unwrap().secret().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(userinfo_raw(&app, t.access_token().secret()).await.0, 401);
    // Unknown tokens are fine (RFC 7009 §2.2); a wrong secret is not.
    let r = reqwest::Client::new()
        .post(app.url("/oidc/revoke"))
        .basic_auth("grafana", Some("wrong"))
        .form(&[("token", "whatever")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_lock_on_one_instance_ends_tokens_on_another_at_once() {
    let first = provider().await;
    let secret = register(&first, "grafana", false, None).await.unwrap();
    let browser = first.signed_in("frank", 4).await;
    let (code, verifier) = code_for(&first, &browser, "grafana", Some(secret.clone())).await;
    let (_, t) = exchange(&first, "grafana", &secret, &code, &verifier).await;
    let access = t["access_token"].as_str().unwrap();

    // A second instance on the same database and key answers for the same token.
    let url = first.core.config.database_url.clone();
    let key = std::fs::read_to_string(first.data_dir.path().join("secret.key")).unwrap();
    let second = TestApp::spawn_with(|c| {
        c.database_url = url;
        c.secret_key = Some(secrecy::SecretString::from(key.trim().to_string()));
    })
    .await;
    let (status, claims) = userinfo_raw(&second, access).await;
    assert_eq!(status, 200, "{claims}");

    // Locked through the second instance: the first refuses the very next request.
    let frank = second.core.user_by_name("frank").await.unwrap();
    let lock = EditUser {
        locked: Some(true),
        ..Default::default()
    };
    second
        .core
        .edit_user(frank.id, lock, &Acting::cli())
        .await
        .unwrap();
    assert_eq!(userinfo_raw(&first, access).await.0, 401);
    let r = refresh(
        &first,
        "grafana",
        &secret,
        t["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(r.1["error"], "invalid_grant");
    second.stop().await;
    first.stop().await;
}
