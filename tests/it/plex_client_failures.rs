//! The plex.tv client when plex.tv misbehaves (500, garbage, hanging, closed port), and the fake
//! checking what plex.tv checks.

use std::time::{Duration, Instant};

use usher::plex::*;

use crate::plex_client::{config_for, start, token_of};
use crate::support::fake_plex::{seeded::*, *};

/// Every call, with plex.tv broken in `mode`, must come back as `Unexpected` (never a panic, never
/// success).
async fn every_call_fails_unexpected(mode: Mode, status: Option<u16>) {
    let (fake, client) = start().await;
    let admin = token_of(&fake, OWNER);
    let pin = client.create_pin().await.unwrap();
    fake.set_mode(mode);
    let results: Vec<(&str, Result<(), PlexError>)> = vec![
        (
            "sign_in",
            client.sign_in("friendly", "hunter2", None).await.map(drop),
        ),
        ("create_pin", client.create_pin().await.map(drop)),
        ("check_pin", client.check_pin(pin.id).await.map(drop)),
        ("account", client.account(&admin).await.map(drop)),
        ("friends", client.friends(&admin).await.map(drop)),
        ("resources", client.resources(&admin).await.map(drop)),
        ("pms_servers", client.pms_servers(&admin).await.map(drop)),
        ("servers", client.servers(&admin).await.map(drop)),
    ];
    for (name, result) in results {
        let err = result.expect_err(name);
        let PlexError::Unexpected { status: got, .. } = &err else {
            panic!("{name}: {err:?}")
        };
        assert_eq!(*got, status, "{name}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "plex.tv at {} gave an unexpected answer",
                fake.url()
            )),
            "{message}"
        );
        assert!(!message.contains(admin.expose()), "{message}");
        assert!(err.is_plex_unavailable());
    }
}

#[tokio::test]
async fn plex_returning_500_is_unexpected() {
    every_call_fails_unexpected(Mode::Error500, Some(500)).await;
}

#[tokio::test]
async fn plex_returning_garbage_is_unexpected() {
    every_call_fails_unexpected(Mode::Garbage, Some(200)).await;
}

#[tokio::test]
async fn plex_hanging_times_out_within_the_timeout() {
    let fake = FakePlex::start(FakePlexSeed::standard()).await;
    let mut config = config_for(&fake.url());
    config.timeout = Duration::from_millis(500);
    let client = PlexClient::new(config).unwrap();
    fake.set_mode(Mode::Hang);
    let started = Instant::now();
    let err = client
        .sign_in("friendly", "hunter2", None)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, PlexError::Timeout { .. }), "{err:?}");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    assert_eq!(err.code(), "plex_timeout");
    assert_eq!(
        err.to_string(),
        format!(
            "plex.tv at {} did not answer within 0.5 seconds",
            fake.url()
        )
    );
    let err = client.friends(&token_of(&fake, OWNER)).await.unwrap_err();
    assert!(matches!(err, PlexError::Timeout { .. }), "{err:?}");

    // plex.tv comes back: so does the client.
    fake.set_mode(Mode::Normal);
    assert_eq!(
        client
            .sign_in("friendly", "hunter2", None)
            .await
            .unwrap()
            .id,
        FRIEND_A
    );
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = PlexClient::new(config_for(&url)).unwrap();
    let started = Instant::now();
    let err = client
        .sign_in("friendly", "hunter2", None)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let PlexError::Unreachable { url: shown, reason } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(shown, &url);
    assert!(reason.to_lowercase().contains("refused"), "{reason}");
    assert!(
        err.to_string()
            .starts_with(&format!("plex.tv at {url} could not be reached: ")),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"));
    assert_eq!(err.code(), "plex_unreachable");
}

/// The fake itself refuses what plex.tv refuses, so the tests above mean something.
#[tokio::test]
async fn the_fake_checks_what_plex_checks() {
    let fake = FakePlex::start(FakePlexSeed::standard()).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", fake.url());

    // No client identifier on /api/v2: 400, code 1000.
    let r = http
        .post(url("/api/v2/pins?strong=true"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["errors"][0]["code"],
        1000
    );

    // /api/v2 answers XML unless asked for JSON.
    let owner = fake.account(OWNER);
    let r = http
        .get(url("/api/v2/user"))
        .header("X-Plex-Client-Identifier", "x")
        .header("X-Plex-Token", &owner.token)
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("<user id=\"1000001\""));

    // Legacy /api/users is XML whatever is asked, and needs a token.
    let r = http
        .get(url("/api/users"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(url("/api/users?X-Plex-Token=") + &owner.token)
        .header("accept", "application/json");
    assert!(r
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("<MediaContainer"));

    // shared_servers only for the owner's own machine.
    let shared = |mid: &str| {
        http.get(url(&format!("/api/servers/{mid}/shared_servers")))
            .header("X-Plex-Token", &owner.token)
    };
    assert!(shared(MACHINE_A)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("userID=\"2000002\""));
    assert_eq!(shared(MACHINE_OTHER).send().await.unwrap().status(), 404);

    // Legacy sign-in: form, JSON and Basic; 2FA code appended to the password.
    let r = http
        .post(url("/users/sign_in.json"))
        .form(&[("user[login]", "friendly"), ("user[password]", "hunter2")]);
    let body: serde_json::Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(
        body["user"]["authToken"],
        body["user"]["authentication_token"]
    );
    let r = http
        .post(url("/users/sign_in.json"))
        .json(&serde_json::json!({"user": {"login": "twofactor", "password": "twofactor-pass"}}));
    assert_eq!(r.send().await.unwrap().status(), 401);
    let r = http.post(url("/users/sign_in.json")).basic_auth(
        "twofactor",
        Some(format!("twofactor-pass{TWO_FACTOR_CODE}")),
    );
    assert_eq!(r.send().await.unwrap().status(), 201);
}
