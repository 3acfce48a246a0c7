//! The SSO app modules against the fakes of Tautulli, Ombi, Overseerr and Jellyfin: what each
//! sends, what the browser is given (cookie name, path, HttpOnly; localStorage items), each
//! failure as a typed error in words, and the runner's timeouts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use usher::sso::jellyfin::Jellyfin;
use usher::sso::ombi::Ombi;
use usher::sso::overseerr::Overseerr;
use usher::sso::tautulli::Tautulli;
use usher::sso::{run, Fallback, Identity, SsoApp, SsoError};

use crate::support::fake_apps::jellyfin::{FakeJellyfin, JellyfinConfig};
use crate::support::fake_apps::ombi::{FakeOmbi, OmbiConfig, OmbiUser};
use crate::support::fake_apps::overseerr::{FakeOverseerr, OverseerrConfig, OverseerrUser};
use crate::support::fake_apps::tautulli::{FakeTautulli, TautulliConfig, TautulliUser};
use crate::support::fake_apps::{down_url, random_hex, HANG};
use crate::support::PASSWORD;

const TIMEOUT: Duration = Duration::from_secs(3);

fn person(name: &str, password: Option<&str>, plex_token: Option<&str>) -> Identity {
    Identity {
        username: name.into(),
        email: Some(format!("{name}@example.com")),
        password: password.map(|p| SecretString::from(p.to_string())),
        plex_token: plex_token.map(|t| SecretString::from(t.to_string())),
        plex_id: None,
    }
}

fn key(k: &str) -> Option<SecretString> {
    Some(SecretString::from(k.to_string()))
}

#[tokio::test]
async fn tautulli_with_its_api_key_gives_a_path_scoped_httponly_cookie() {
    let fake = FakeTautulli::start(TautulliConfig::default()).await;
    let app = Tautulli::new(
        &fake.base_url(),
        key(&fake.config.api_key),
        None,
        None,
        TIMEOUT,
    )
    .unwrap();
    let grant = app
        .sign_in(&person("alice", Some(PASSWORD), None))
        .await
        .expect("signed in");
    assert_eq!(grant.cookies.len(), 1);
    let c = &grant.cookies[0];
    assert_eq!(c.name, format!("tautulli_token_{}", fake.uuid));
    assert_eq!(c.path, "/tautulli");
    assert!(c.http_only);
    assert_eq!(c.max_age, Some(2_592_000));
    assert!(
        fake.issued(c.value.expose_secret()),
        "the cookie holds the token Tautulli issued"
    );
    // Tautulli's API is asked first (who may sign in), then the key passes its CSRF check.
    let seen = fake.server.control.seen();
    assert_eq!(
        seen.iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect::<Vec<_>>(),
        ["GET /tautulli/api/v2", "POST /tautulli/auth/signin"]
    );
    assert_eq!(seen[1].headers["x-api-key"], fake.config.api_key.as_str());
    // The token never shows in Debug output (logs).
    assert!(!format!("{grant:?}").contains(c.value.expose_secret()));
}

#[tokio::test]
async fn tautulli_without_an_api_key_posts_nothing() {
    let fake = FakeTautulli::start(TautulliConfig::default()).await;
    let app = Tautulli::new(&fake.base_url(), None, None, None, TIMEOUT).unwrap();
    let e = app
        .sign_in(&person("alice", Some(PASSWORD), None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "app_user_not_allowed", "{e}");
    assert!(e.to_string().contains("sso.tautulli.api_key"), "{e}");
    assert!(fake.server.control.seen().is_empty(), "nothing was asked");
}

#[tokio::test]
async fn tautulli_failures_are_named() {
    let fake = FakeTautulli::start(TautulliConfig {
        max_failures: 2,
        ..Default::default()
    })
    .await;
    let wrong_key = Tautulli::new(&fake.base_url(), key("nope"), None, None, TIMEOUT).unwrap();
    let e = wrong_key
        .sign_in(&person("alice", Some(PASSWORD), None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "app_bad_api_key", "{e}");
    assert!(e.to_string().contains("API key"), "{e}");

    let app = Tautulli::new(
        &fake.base_url(),
        key(&fake.config.api_key),
        None,
        None,
        TIMEOUT,
    )
    .unwrap();
    // The admin login with a wrong password is posted (Tautulli's own login name), and refused.
    for _ in 0..2 {
        let e = app
            .sign_in(&person("alice", Some("wrong"), None))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "app_rejected_user", "{e}");
        assert!(e.to_string().contains("alice"), "{e}");
    }
    assert_eq!(fake.failed_sign_ins(), 2);
    let e = app
        .sign_in(&person("alice", Some(PASSWORD), None))
        .await
        .unwrap_err();
    let SsoError::RateLimited { retry_after, .. } = e else {
        panic!("not rate limited: {e}");
    };
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    let e = app.sign_in(&person("bob", None, None)).await.unwrap_err();
    assert_eq!(e.code(), "no_credentials", "{e}");
}

#[tokio::test]
async fn tautulli_takes_the_plex_token_when_there_is_one() {
    let plex = random_hex(10);
    let fake = FakeTautulli::start(TautulliConfig {
        users: vec![TautulliUser::guest(2000002, "friend", &plex)],
        ..Default::default()
    })
    .await;
    let app = Tautulli::new(
        &fake.base_url(),
        key(&fake.config.api_key),
        None,
        None,
        TIMEOUT,
    )
    .unwrap();
    // A Plex friend has no Tautulli password; the token is what lets them in.
    let friend = Identity {
        plex_id: Some(2000002),
        ..person("friend", None, Some(&plex))
    };
    let grant = app.sign_in(&friend).await.unwrap();
    assert!(fake.issued(grant.cookies[0].value.expose_secret()));
    // Someone Tautulli does not list is not posted at all.
    let stranger = Identity {
        plex_id: Some(2000099),
        ..person("stranger", None, Some("not-a-known-token"))
    };
    let e = app.sign_in(&stranger).await.unwrap_err();
    assert_eq!(e.code(), "app_user_not_allowed");
    assert_eq!(fake.failed_sign_ins(), 0);
}

#[tokio::test]
async fn two_tautulli_instances_get_their_own_cookie_on_their_own_path() {
    let first = FakeTautulli::start(TautulliConfig::default()).await;
    let second = FakeTautulli::start(TautulliConfig {
        root: String::new(),
        ..Default::default()
    })
    .await;
    let apps: Vec<Arc<dyn SsoApp>> = vec![
        Arc::new(
            Tautulli::new(
                &first.base_url(),
                key(&first.config.api_key),
                None,
                Some("example.com".into()),
                TIMEOUT,
            )
            .unwrap(),
        ),
        Arc::new(
            Tautulli::new(
                &second.base_url(),
                key(&second.config.api_key),
                Some("/tautulli-4k/"),
                Some("example.com".into()),
                TIMEOUT,
            )
            .unwrap(),
        ),
    ];
    let who = Arc::new(person("alice", Some(PASSWORD), None));
    let outcomes = run(&apps, who, TIMEOUT, TIMEOUT, None).await;
    let cookies: Vec<_> = outcomes
        .iter()
        .map(|o| o.result.as_ref().expect("both sign in").cookies[0].clone())
        .collect();
    assert_eq!(cookies[0].name, format!("tautulli_token_{}", first.uuid));
    assert_eq!(cookies[0].path, "/tautulli");
    assert_eq!(cookies[1].name, format!("tautulli_token_{}", second.uuid));
    assert_eq!(cookies[1].path, "/tautulli-4k");
    assert!(cookies
        .iter()
        .all(|c| c.domain.as_deref() == Some("example.com")));
    assert!(first.issued(cookies[0].value.expose_secret()));
    assert!(second.issued(cookies[1].value.expose_secret()));
}

fn ombi_users(plex: &str) -> Vec<OmbiUser> {
    vec![
        OmbiUser {
            username: "alice".into(),
            email: "alice@example.com".into(),
            password: PASSWORD.into(),
            plex_token: None,
        },
        OmbiUser {
            username: "friend".into(),
            email: "friend@example.com".into(),
            password: "x".into(),
            plex_token: Some(plex.into()),
        },
        OmbiUser {
            username: "guest".into(),
            email: "guest@example.com".into(),
            password: "guest-pass".into(),
            plex_token: None,
        },
    ]
}

#[tokio::test]
async fn ombi_gives_the_auth_cookie_and_id_token_and_falls_back() {
    let plex = random_hex(10);
    let fake = FakeOmbi::start(OmbiConfig {
        api_key: random_hex(16),
        users: ombi_users(&plex),
    })
    .await;
    let app = Ombi::new(
        &fake.base_url(),
        key(&fake.config.api_key),
        None,
        None,
        TIMEOUT,
    )
    .unwrap();
    let grant = app
        .sign_in(&person("alice", Some(PASSWORD), None))
        .await
        .unwrap();
    let c = &grant.cookies[0];
    assert_eq!(
        (c.name.as_str(), c.path.as_str(), c.http_only),
        ("Auth", "/", false)
    );
    assert_eq!(grant.storage[0].key, "id_token");
    assert_eq!(
        grant.storage[0].value.expose_secret(),
        c.value.expose_secret()
    );
    assert!(
        grant.lifetime.unwrap() > 365 * 86_400,
        "expiry taken from Ombi's answer"
    );
    assert!(!grant.used_fallback);

    let grant = app
        .sign_in(&person("friend", None, Some(&plex)))
        .await
        .unwrap();
    assert!(grant.cookies[0].value.expose_secret().starts_with("eyJ"));

    let e = app
        .sign_in(&person("carol", Some("pw"), None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "app_rejected_user");
    assert!(e.to_string().contains("does not exist in Ombi"), "{e}");

    let fallback = Fallback {
        username: "guest".into(),
        password: SecretString::from("guest-pass".to_string()),
    };
    let with_fallback = Ombi::new(&fake.base_url(), None, Some(fallback), None, TIMEOUT).unwrap();
    let grant = with_fallback
        .sign_in(&person("carol", Some("pw"), None))
        .await
        .unwrap();
    assert!(grant.used_fallback);
}

#[tokio::test]
async fn ombi_check_tells_a_wrong_api_key_from_a_good_one() {
    let fake = FakeOmbi::start(OmbiConfig {
        api_key: random_hex(16),
        users: Vec::new(),
    })
    .await;
    let good = Ombi::new(
        &fake.base_url(),
        key(&fake.config.api_key),
        None,
        None,
        TIMEOUT,
    )
    .unwrap();
    let check = good.check().await.unwrap();
    assert!(check.url_ok && check.api_ok == Some(true), "{check:?}");
    let bad = Ombi::new(&fake.base_url(), key("wrong"), None, None, TIMEOUT).unwrap();
    let check = bad.check().await.unwrap();
    assert!(check.url_ok && check.api_ok == Some(false), "{check:?}");
    assert!(check.detail.contains("API key"));
}

#[tokio::test]
async fn overseerr_hands_over_its_session_cookie() {
    let plex = random_hex(10);
    let fake = FakeOverseerr::start(OverseerrConfig {
        api_key: random_hex(16),
        users: vec![
            OverseerrUser {
                id: 1,
                email: "alice@example.com".into(),
                password: PASSWORD.into(),
                plex_token: Some(plex.clone()),
            },
            OverseerrUser {
                id: 7,
                email: "guest@example.com".into(),
                password: "guest-pass".into(),
                plex_token: None,
            },
        ],
    })
    .await;
    let app = Overseerr::new(
        &fake.base_url(),
        key(&fake.config.api_key),
        None,
        None,
        TIMEOUT,
    )
    .unwrap();
    let grant = app
        .sign_in(&person("alice", None, Some(&plex)))
        .await
        .unwrap();
    let c = &grant.cookies[0];
    assert_eq!(
        (c.name.as_str(), c.path.as_str(), c.http_only),
        ("connect.sid", "/", true)
    );
    assert_eq!(c.max_age, Some(2_592_000));
    assert_eq!(
        fake.user_of_cookie(c.value.expose_secret()),
        Some(1),
        "the cookie is a live Overseerr session"
    );

    let grant = app
        .sign_in(&person("alice", Some(PASSWORD), None))
        .await
        .unwrap();
    assert_eq!(
        fake.user_of_cookie(grant.cookies[0].value.expose_secret()),
        Some(1)
    );

    let e = app
        .sign_in(&person("carol", Some("pw"), None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "app_rejected_user");
    let fallback = Fallback {
        username: "guest@example.com".into(),
        password: SecretString::from("guest-pass".to_string()),
    };
    let app = Overseerr::new(&fake.base_url(), None, Some(fallback), None, TIMEOUT).unwrap();
    let grant = app
        .sign_in(&person("carol", Some("pw"), None))
        .await
        .unwrap();
    assert!(grant.used_fallback);
    assert_eq!(
        fake.user_of_cookie(grant.cookies[0].value.expose_secret()),
        Some(7)
    );

    let good = Overseerr::new(
        &fake.base_url(),
        key(&fake.config.api_key),
        None,
        None,
        TIMEOUT,
    )
    .unwrap();
    let check = good.check().await.unwrap();
    assert!(check.url_ok && check.api_ok == Some(true), "{check:?}");
    let bad = Overseerr::new(&fake.base_url(), key("wrong"), None, None, TIMEOUT).unwrap();
    assert_eq!(bad.check().await.unwrap().api_ok, Some(false));
}

#[tokio::test]
async fn jellyfin_fills_jellyfin_web_storage_and_sends_both_auth_headers() {
    let fake = FakeJellyfin::start(JellyfinConfig::with_users(&[("alice", PASSWORD)])).await;
    let app = Jellyfin::new(
        &fake.base_url(),
        Some("https://usher.example.com/jellyfin/"),
        TIMEOUT,
    )
    .unwrap();
    let grant = app
        .sign_in(&person("alice", Some(PASSWORD), None))
        .await
        .unwrap();
    assert!(grant.cookies.is_empty());
    let creds: serde_json::Value =
        serde_json::from_str(grant.storage[0].value.expose_secret()).unwrap();
    assert_eq!(grant.storage[0].key, "jellyfin_credentials");
    let server = &creds["Servers"][0];
    assert_eq!(
        server["ManualAddress"],
        "https://usher.example.com/jellyfin"
    );
    assert_eq!(server["Id"], fake.config.server_id.as_str());
    assert_eq!(server["UserId"], FakeJellyfin::user_id("alice").as_str());
    assert_eq!(server["AccessToken"].as_str().unwrap().len(), 32);
    assert_eq!(
        grant.storage[1].key,
        format!(
            "user-{}-{}",
            FakeJellyfin::user_id("alice"),
            fake.config.server_id
        )
    );
    let seen = fake.server.control.seen();
    let h = &seen[0].headers;
    assert!(h["authorization"]
        .to_str()
        .unwrap()
        .starts_with("MediaBrowser Client=\"Usher\""));
    assert_eq!(h["authorization"], h["x-emby-authorization"]);

    let e = app
        .sign_in(&person("alice", Some("wrong"), None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "app_rejected_user");
    assert!(app.check().await.unwrap().url_ok);
    // Another product at the URL is not taken for Jellyfin.
    let ombi = FakeOmbi::start(OmbiConfig {
        api_key: "k".into(),
        users: Vec::new(),
    })
    .await;
    let wrong = Jellyfin::new(&ombi.base_url(), None, TIMEOUT).unwrap();
    assert!(!wrong.check().await.unwrap().url_ok);
}

#[tokio::test]
async fn a_dead_or_hanging_app_costs_only_its_own_sso() {
    let good = FakeTautulli::start(TautulliConfig::default()).await;
    let stuck = FakeTautulli::start(TautulliConfig::default()).await;
    stuck.server.control.hang();
    let apps: Vec<Arc<dyn SsoApp>> = vec![
        Arc::new(
            Tautulli::new(
                &good.base_url(),
                key(&good.config.api_key),
                None,
                None,
                TIMEOUT,
            )
            .unwrap(),
        ),
        Arc::new(Ombi::new(&down_url().await, None, None, None, TIMEOUT).unwrap()),
        Arc::new(
            Tautulli::new(
                &stuck.base_url(),
                key(&stuck.config.api_key),
                None,
                None,
                Duration::from_secs(30),
            )
            .unwrap(),
        ),
    ];
    let who = Arc::new(person("alice", Some(PASSWORD), None));
    let began = Instant::now();
    let outcomes = run(
        &apps,
        who.clone(),
        Duration::from_millis(500),
        Duration::from_secs(5),
        None,
    )
    .await;
    // The stuck app would hold the login for HANG; its own timeout ends it.
    assert!(began.elapsed() < HANG / 2, "took {:?}", began.elapsed());
    assert!(outcomes[0].result.is_ok());
    let down = outcomes[1].result.as_ref().unwrap_err();
    assert_eq!(down.code(), "app_unreachable", "{down}");
    assert!(down.to_string().contains("could not be reached"));
    let hung = outcomes[2].result.as_ref().unwrap_err();
    assert_eq!(hung.code(), "app_timeout", "{hung}");

    // The overall deadline holds even when an app's own timeout is longer.
    let began = Instant::now();
    let outcomes = run(
        &apps[2..],
        who,
        Duration::from_secs(30),
        Duration::from_millis(300),
        None,
    )
    .await;
    assert!(began.elapsed() < HANG / 2, "took {:?}", began.elapsed());
    assert_eq!(
        outcomes[0].result.as_ref().unwrap_err().code(),
        "app_timeout"
    );
}

#[tokio::test]
async fn tautulli_is_asked_first_and_only_people_it_lets_in_are_posted() {
    let (admin_token, friend_token, locked_token) =
        (random_hex(10), random_hex(10), random_hex(10));
    let users = vec![
        TautulliUser {
            is_admin: true,
            allow_guest: false,
            ..TautulliUser::guest(1000001, "owner", &admin_token)
        },
        TautulliUser::guest(2000002, "friend", &friend_token),
        TautulliUser {
            allow_guest: false,
            ..TautulliUser::guest(2000003, "locked", &locked_token)
        },
    ];
    let plex = |name: &str, id: i64, token: &str| Identity {
        plex_id: Some(id),
        ..person(name, None, Some(token))
    };
    let try_as = |cfg: TautulliConfig, who: Identity| async move {
        let fake = FakeTautulli::start(cfg).await;
        let key = key(&fake.config.api_key);
        let app = Tautulli::new(&fake.base_url(), key, None, None, TIMEOUT).unwrap();
        let result = app.sign_in(&who).await.map(|_| ()).map_err(|e| e.code());
        (result, fake.sign_in_posts(), fake.failed_sign_ins())
    };
    let cfg = |guests: bool, plex_admin: bool| TautulliConfig {
        users: users.clone(),
        allow_guest_access: guests,
        plex_admin,
        ..Default::default()
    };
    // The Plex admin with Allow Plex Admin, and a friend with guest access: posted, let in.
    assert_eq!(
        try_as(cfg(false, true), plex("owner", 1000001, &admin_token)).await,
        (Ok(()), 1, 0)
    );
    assert_eq!(
        try_as(cfg(true, true), plex("friend", 2000002, &friend_token)).await,
        (Ok(()), 1, 0)
    );
    // Refused by Tautulli's rules, so never posted: guest access off for them, or globally,
    // or Allow Plex Admin off for the admin (who then needs guest access like anyone).
    for (config, who) in [
        (cfg(true, true), plex("locked", 2000003, &locked_token)),
        (cfg(false, true), plex("friend", 2000002, &friend_token)),
        (cfg(true, false), plex("owner", 1000001, &admin_token)),
    ] {
        assert_eq!(
            try_as(config, who).await,
            (Err("app_user_not_allowed"), 0, 0)
        );
    }
    // A password is only ever Tautulli's own admin login (`alice` here), never a Plex user's.
    assert_eq!(
        try_as(cfg(true, true), person("friend", Some("hunter2"), None)).await,
        (Err("app_user_not_allowed"), 0, 0)
    );
    assert_eq!(
        try_as(cfg(true, true), person("alice", Some(PASSWORD), None)).await,
        (Ok(()), 1, 0)
    );
}
