//! The plex.tv client against the fake plex.tv: every method, every error, and what goes on the wire.

use std::time::Duration;

use url::Url;
use usher::plex::*;

use crate::support::fake_plex::{seeded::*, *};

pub(crate) const CLIENT_ID: &str = "usher-test-0b6c2f5e-1d2a-4c3b-9e8f-7a6b5c4d3e2f";

pub(crate) fn config_for(url: &str) -> PlexClientConfig {
    PlexClientConfig {
        tv_url: Url::parse(url).unwrap(),
        client_identifier: CLIENT_ID.into(),
        product: "Usher".into(),
        version: "9.9.9".into(),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        timer: Default::default(),
    }
}

pub(crate) async fn start() -> (FakePlex, PlexClient) {
    let fake = FakePlex::start(FakePlexSeed::standard()).await;
    let client = PlexClient::new(config_for(&fake.url())).unwrap();
    (fake, client)
}

pub(crate) fn token_of(fake: &FakePlex, id: i64) -> PlexToken {
    PlexToken::new(fake.account(id).token)
}

/// The identification every request must carry.
pub(crate) fn assert_identified(request: &RecordedRequest) {
    assert_eq!(
        request.header("x-plex-client-identifier"),
        Some(CLIENT_ID),
        "{request:?}"
    );
    assert_eq!(
        request.header("x-plex-product"),
        Some("Usher"),
        "{request:?}"
    );
    assert_eq!(
        request.header("x-plex-version"),
        Some("9.9.9"),
        "{request:?}"
    );
}

#[tokio::test]
async fn sign_in_returns_the_account_and_identifies_usher() {
    let (fake, client) = start().await;
    let account = client.sign_in("friendly", "hunter2", None).await.unwrap();
    assert_eq!(account.id, FRIEND_A);
    assert_eq!(account.username, "friendly");
    assert_eq!(account.email.as_deref(), Some("friend@example.com"));
    assert_eq!(account.token.expose(), fake.account(FRIEND_A).token);
    assert!(!account.two_factor_enabled);

    let by_email = client
        .sign_in("FRIEND@example.com", "hunter2", None)
        .await
        .unwrap();
    assert_eq!(by_email.id, FRIEND_A);

    let requests = fake.requests_to("/api/v2/users/signin");
    assert_eq!(requests.len(), 2);
    assert_identified(&requests[0]);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].header("accept"), Some("application/json"));
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        requests[0].header("x-plex-token"),
        None,
        "no token on sign-in"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_login_are_bad_credentials() {
    let (_fake, client) = start().await;
    for (login, password) in [
        ("friendly", "wrong"),
        ("nobody", "hunter2"),
        ("", ""),
        ("friendly", ""),
    ] {
        let err = client.sign_in(login, password, None).await.unwrap_err();
        assert!(matches!(err, PlexError::BadCredentials), "{login}: {err:?}");
        assert_eq!(err.code(), "bad_credentials");
    }
    // A managed Home user has no password to sign in with.
    let err = client.sign_in("Kids", "", None).await.unwrap_err();
    assert!(matches!(err, PlexError::BadCredentials));
}

#[tokio::test]
async fn two_factor_needs_the_right_code() {
    let (fake, client) = start().await;
    let err = client
        .sign_in("twofactor", "twofactor-pass", None)
        .await
        .unwrap_err();
    assert!(matches!(err, PlexError::TwoFactorRequired), "{err:?}");
    assert_eq!(err.code(), "two_factor_required");

    let err = client
        .sign_in("twofactor", "twofactor-pass", Some("000000"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlexError::WrongTwoFactorCode), "{err:?}");

    // A right code does not rescue a wrong password.
    let err = client
        .sign_in("twofactor", "nope", Some(TWO_FACTOR_CODE))
        .await
        .unwrap_err();
    assert!(matches!(err, PlexError::BadCredentials), "{err:?}");

    let account = client
        .sign_in("twofactor", "twofactor-pass", Some(TWO_FACTOR_CODE))
        .await
        .unwrap();
    assert_eq!(account.id, TWO_FACTOR);
    assert!(account.two_factor_enabled);
    let sent = fake.requests_to("/api/v2/users/signin");
    assert_eq!(sent.len(), 4);
}

#[tokio::test]
async fn pin_flow_from_creation_to_token() {
    let (fake, client) = start().await;
    let pin = client.create_pin().await.unwrap();
    assert_eq!(pin.code.len(), 25, "strong PIN");
    assert!(
        pin.expires_in > Duration::from_secs(1700),
        "{:?}",
        pin.expires_in
    );
    let created = fake.requests_to("/api/v2/pins");
    assert_eq!(created[0].method, "POST");
    assert_eq!(created[0].query.as_deref(), Some("strong=true"));
    assert_identified(&created[0]);
    let held = fake.pins();
    assert_eq!(
        (
            held[0].id,
            held[0].client_id.as_str(),
            held[0].product.as_str()
        ),
        (pin.id, CLIENT_ID, "Usher")
    );

    assert_eq!(client.check_pin(pin.id).await.unwrap(), PinState::Pending);
    assert!(fake.approve_pin(pin.id, FRIEND_A));
    let PinState::Approved(token) = client.check_pin(pin.id).await.unwrap() else {
        panic!("not approved")
    };
    assert_eq!(token, token_of(&fake, FRIEND_A));
    assert_eq!(client.account(&token).await.unwrap().id, FRIEND_A);

    let polls = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/api/v2/pins/{}", pin.id))
        .collect::<Vec<_>>();
    assert_eq!(polls.len(), 2);
    for poll in &polls {
        assert_identified(poll);
        assert_eq!(poll.header("x-plex-token"), None, "polling sends no token");
        assert_eq!(poll.header("accept"), Some("application/json"));
    }
}

#[tokio::test]
async fn a_pin_polled_by_another_client_id_is_not_found() {
    let (fake, client) = start().await;
    let pin = client.create_pin().await.unwrap();
    assert!(fake.approve_pin(pin.id, FRIEND_A));
    let mut other = config_for(&fake.url());
    other.client_identifier = "some-other-install".into();
    let other = PlexClient::new(other).unwrap();
    assert_eq!(other.check_pin(pin.id).await.unwrap(), PinState::Expired);
    // The owner of the PIN still gets the token.
    assert!(matches!(
        client.check_pin(pin.id).await.unwrap(),
        PinState::Approved(_)
    ));
}

#[tokio::test]
async fn expired_and_unknown_pins_are_expired() {
    let (fake, client) = start().await;
    let pin = client.create_pin().await.unwrap();
    fake.expire_pin(pin.id);
    assert_eq!(client.check_pin(pin.id).await.unwrap(), PinState::Expired);
    assert!(
        !fake.approve_pin(pin.id, FRIEND_A),
        "an expired PIN cannot be approved"
    );
    assert_eq!(client.check_pin(42).await.unwrap(), PinState::Expired);

    // Natural expiry, with a short-lived PIN.
    let mut seed = FakePlexSeed::standard();
    seed.pin_lifetime = Duration::from_millis(800);
    let fake = FakePlex::start(seed).await;
    let client = PlexClient::new(config_for(&fake.url())).unwrap();
    let pin = client.create_pin().await.unwrap();
    assert_eq!(client.check_pin(pin.id).await.unwrap(), PinState::Pending);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(client.check_pin(pin.id).await.unwrap(), PinState::Expired);
}

/// What the fake auth page does with the URL Usher builds: read the fragment, approve by code with the
/// client id it carries, then follow forwardUrl.
#[tokio::test]
async fn auth_app_url_works_with_the_fake_auth_page() {
    let (fake, client) = start().await;
    let pin = client.create_pin().await.unwrap();
    let auth_base = Url::parse(&fake.auth_url()).unwrap();
    let forward = "http://usher.test/plex/return?pin=7&next=/a b";
    let link = client.auth_app_url(&auth_base, &pin, Some(forward));
    let (page, fragment) = link.split_once("#?").unwrap();
    assert_eq!(page, fake.auth_url());
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(fragment.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(params["clientID"], CLIENT_ID);
    assert_eq!(params["code"], pin.code);
    assert_eq!(params["context[device][product]"], "Usher");
    assert_eq!(params["forwardUrl"], forward);

    let http = reqwest::Client::new();
    let html = http.get(page).send().await.unwrap().text().await.unwrap();
    for name in [
        "adminuser",
        "friendly",
        "elsewhere",
        "stranger",
        "twofactor",
        "Kids",
    ] {
        assert!(
            html.contains(&format!("\"name\":\"{name}\"")),
            "no button for {name}"
        );
    }
    assert!(
        html.contains("Approve as ")
            && html.contains("forwardUrl")
            && html.contains("window.close()")
    );

    let approve = |client_id: &str| {
        format!(
            "{}/__test/pins/by-code/{}/approve?account={MANAGED}&clientID={client_id}",
            fake.url(),
            params["code"]
        )
    };
    let refused = http.post(approve("someone-else")).send().await.unwrap();
    assert_eq!(
        refused.status(),
        400,
        "the page's clientID must be the PIN creator's"
    );
    assert_eq!(client.check_pin(pin.id).await.unwrap(), PinState::Pending);
    let approved = http
        .post(approve(&params["clientID"]))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 204);
    let PinState::Approved(token) = client.check_pin(pin.id).await.unwrap() else {
        panic!("not approved")
    };

    // A managed Home user: no username, no e-mail, matched by id.
    let kids = client.account(&token).await.unwrap();
    assert_eq!(
        (kids.id, kids.username.as_str(), kids.email.as_deref()),
        (MANAGED, "", None)
    );
    assert_eq!(kids.display_name(), "Kids");
    assert!(kids.restricted && kids.home);
}

#[tokio::test]
async fn account_checks_the_token() {
    let (fake, client) = start().await;
    let owner = client.account(&token_of(&fake, OWNER)).await.unwrap();
    assert_eq!((owner.id, owner.username.as_str()), (OWNER, "adminuser"));
    assert!(owner.home_admin);
    assert_eq!(owner.uuid.len(), 16);
    assert!(owner
        .thumb
        .as_deref()
        .unwrap()
        .ends_with("/avatar?c=1700000000"));
    let sent = &fake.requests_to("/api/v2/user")[0];
    assert_identified(sent);
    assert_eq!(
        sent.header("x-plex-token"),
        Some(fake.account(OWNER).token.as_str())
    );
    assert_eq!(sent.header("accept"), Some("application/json"));

    let err = client
        .account(&PlexToken::new("not-a-token"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlexError::TokenInvalid), "{err:?}");
    assert_eq!(err.code(), "plex_token_invalid");

    let old = token_of(&fake, FRIEND_A);
    fake.revoke_token(FRIEND_A);
    let err = client.account(&old).await.unwrap_err();
    assert!(matches!(err, PlexError::TokenInvalid), "{err:?}");
    assert!(!err.to_string().contains(old.expose()));
}

#[tokio::test]
async fn friends_list_with_shares() {
    let (fake, client) = start().await;
    let admin = token_of(&fake, OWNER);
    let friends = client.friends(&admin).await.unwrap();
    let find = |id| friends.iter().find(|f| f.id == id);
    assert!(
        find(OWNER).is_none(),
        "the owner is never in their own list"
    );
    assert!(find(STRANGER).is_none());
    assert!(find(FRIEND_A).unwrap().has_share_on(MACHINE_A));
    let b = find(FRIEND_B).unwrap();
    assert!(b.has_share_on(MACHINE_B) && !b.has_share_on(MACHINE_A));
    assert!(find(TWO_FACTOR).unwrap().has_share_on(MACHINE_A));
    let kids = find(MANAGED).unwrap();
    assert_eq!(
        (
            kids.username.as_str(),
            kids.email.as_deref(),
            kids.restricted
        ),
        ("", None, true)
    );
    assert!(kids.has_share_on(MACHINE_A));
    let share = &find(FRIEND_A).unwrap().servers[0];
    assert_eq!(
        (share.name.as_str(), share.server_id),
        ("HomeServer", Some(7000001))
    );

    let sent = &fake.requests_to("/api/users")[0];
    assert_identified(sent);
    assert_eq!(sent.header("x-plex-token"), Some(admin.expose()));

    // A share removed at run time shows on the next fetch; the friendship stays.
    assert!(fake.remove_share(FRIEND_A, MACHINE_A));
    let friends = client.friends(&admin).await.unwrap();
    let friendly = friends.iter().find(|f| f.id == FRIEND_A).unwrap();
    assert!(!friendly.has_share_on(MACHINE_A) && friendly.servers.is_empty());

    let err = client.friends(&PlexToken::new("bogus")).await.unwrap_err();
    assert!(matches!(err, PlexError::TokenInvalid), "{err:?}");
}

#[tokio::test]
async fn servers_from_resources_and_pms_servers() {
    let (fake, client) = start().await;
    let admin = token_of(&fake, OWNER);
    for servers in [
        client.resources(&admin).await.unwrap(),
        client.pms_servers(&admin).await.unwrap(),
    ] {
        let ids: Vec<_> = servers
            .iter()
            .map(|s| (s.machine_identifier.as_str(), s.owned))
            .collect();
        assert_eq!(
            ids,
            vec![(MACHINE_A, true), (MACHINE_B, true), (MACHINE_OTHER, false)],
            "{servers:?}"
        );
        assert_eq!(servers[0].name, "HomeServer");
        assert_eq!(servers[2].source_title.as_deref(), Some("someoneelse"));
        assert_eq!(servers[0].access_token.as_ref(), Some(&admin));
        assert!(!servers[0].connections.is_empty());
    }
    let sent = &fake.requests_to("/api/v2/resources")[0];
    assert_eq!(sent.query.as_deref(), Some("includeHttps=1"));
    assert_eq!(sent.header("accept"), Some("application/json"));
    assert_identified(sent);
    assert_identified(&fake.requests_to("/pms/servers")[0]);

    // A friend sees only what is shared with them.
    let friend = client.resources(&token_of(&fake, FRIEND_A)).await.unwrap();
    assert_eq!(friend.len(), 1);
    assert_eq!(
        (friend[0].machine_identifier.as_str(), friend[0].owned),
        (MACHINE_A, false)
    );

    let err = client
        .resources(&PlexToken::new("bogus"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlexError::TokenInvalid), "{err:?}");
    let err = client
        .pms_servers(&PlexToken::new("bogus"))
        .await
        .unwrap_err();
    assert!(matches!(err, PlexError::TokenInvalid), "{err:?}");
}

#[tokio::test]
async fn servers_falls_back_to_pms_servers() {
    let (fake, client) = start().await;
    let admin = token_of(&fake, OWNER);
    fake.set_route_mode("/api/v2/resources", Some(Mode::Garbage));
    let servers = client.servers(&admin).await.unwrap();
    assert_eq!(servers.len(), 3);
    assert_eq!(fake.requests_to("/pms/servers").len(), 1);

    fake.set_route_mode("/api/v2/resources", None);
    fake.clear_requests();
    assert_eq!(client.servers(&admin).await.unwrap().len(), 3);
    assert!(
        fake.requests_to("/pms/servers").is_empty(),
        "no fallback when resources works"
    );

    // A refused token is not retried elsewhere.
    assert!(matches!(
        client.servers(&PlexToken::new("bogus")).await,
        Err(PlexError::TokenInvalid)
    ));
    assert!(fake.requests_to("/pms/servers").is_empty());
}
