//! Unit tests of the client: parsing, error mapping, the auth-app URL.

use super::*;
use crate::plex::answers::{api_errors, json_int, pin_lifetime, resource_to_server, PinJson};

/// spec §4.2, trimmed of fields nobody reads but keeping every type plex.tv uses.
const USER_JSON: &str = r#"{
  "id": 1000001, "uuid": "a1b2c3d4e5f60718", "username": "adminuser", "title": "adminuser",
  "email": "admin@example.com", "friendlyName": "Admin", "locale": null, "confirmed": true,
  "joinedAt": 1546300800, "emailOnlyAuth": false, "hasPassword": true, "protected": false,
  "thumb": "https://plex.tv/users/a1b2c3d4e5f60718/avatar?c=1700000000",
  "authToken": "ADMINTOKENxxxxxxxxx01", "mailingListStatus": "active", "mailingListActive": true,
  "scrobbleTypes": "", "country": "US",
  "subscription": {"active": true, "subscribedAt": "2019-01-01T00:00:00Z", "status": "Active",
                   "paymentService": "", "plan": "lifetime", "features": ["webhooks"]},
  "subscriptionDescription": null, "restricted": false, "anonymous": null, "home": true, "guest": false,
  "homeSize": 2, "homeAdmin": true, "maxHomeSize": 15, "rememberExpiresAt": 1767225600,
  "profile": {"autoSelectAudio": true, "defaultAudioLanguage": "en"},
  "entitlements": ["all"], "roles": ["plexpass"], "services": [], "adsConsent": null,
  "experimentalFeatures": false, "twoFactorEnabled": false, "backupCodesCreated": false,
  "pastSubscriptions": [], "trials": []
}"#;

/// spec §2.1 (legacy wrapper, both token keys).
const LEGACY_JSON: &str = r#"{"user": {"id": 2000002, "uuid": "b7e4c2a19f3d5e60", "email": "friend@example.com",
  "joined_at": "2019-06-01 12:00:00 UTC", "username": "friendly", "title": "friendly",
  "thumb": "https://plex.tv/users/b7e4c2a19f3d5e60/avatar?c=1700000000", "hasPassword": true,
  "authToken": "FRIENDTOKENxxxxxxxx02", "authentication_token": "FRIENDTOKENxxxxxxxx02",
  "subscription": {"active": false, "status": "Inactive", "plan": null, "features": []},
  "roles": {"roles": []}, "entitlements": [], "confirmedAt": "2019-06-01 12:05:00 UTC", "forumId": null}}"#;

/// spec §6.2 plus a client device that must be left out.
const RESOURCES_JSON: &str = r#"[
  {"name": "HomeServer", "product": "Plex Media Server", "productVersion": "1.41.3.9314-a0bfb8370",
   "platform": "Linux", "platformVersion": "6.1.0-18-amd64", "device": "PC",
   "clientIdentifier": "9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d",
   "createdAt": "2020-09-13T12:26:40Z", "lastSeenAt": "2023-11-14T22:13:20Z",
   "provides": "server", "ownerId": null, "sourceTitle": null, "publicAddress": "203.0.113.10",
   "accessToken": "ADMINTOKENxxxxxxxxx01", "owned": true, "home": false, "synced": false, "relay": true,
   "presence": true, "httpsRequired": false, "publicAddressMatches": true, "dnsRebindingProtection": false,
   "natLoopbackSupported": true,
   "connections": [{"protocol": "https", "address": "192.168.1.10", "port": 32400,
     "uri": "https://192-168-1-10.0123456789abcdef0123456789abcdef.plex.direct:32400",
     "local": true, "relay": false, "IPv6": false}]},
  {"name": "Chrome", "product": "Plex Web", "clientIdentifier": "webclientid123",
   "provides": "client,player,pubsub-player", "owned": true, "connections": []},
  {"name": "Odd", "clientIdentifier": 12, "provides": "server"}
]"#;

fn client() -> PlexClient {
    PlexClient::new(PlexClientConfig::new(
        "5f0c0b8e-3f55-4a39-9a7a-2f4d1c6d9e11",
    ))
    .unwrap()
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        body: body.as_bytes().to_vec(),
        request: "GET /api/v2/user".into(),
    }
}

#[test]
fn parses_the_v2_user() {
    let account = client()
        .parse_account(&answer(200, USER_JSON), None)
        .unwrap();
    assert_eq!(account.id, 1000001);
    assert_eq!(account.uuid, "a1b2c3d4e5f60718");
    assert_eq!(account.username, "adminuser");
    assert_eq!(account.email.as_deref(), Some("admin@example.com"));
    assert_eq!(account.token.expose(), "ADMINTOKENxxxxxxxxx01");
    assert!(
        account.home && account.home_admin && !account.restricted && !account.two_factor_enabled
    );
    assert!(!account.email_unconfirmed, "\"confirmed\": true");
    let unconfirmed = USER_JSON.replace("\"confirmed\": true", "\"confirmed\": false");
    let account = client()
        .parse_account(&answer(200, &unconfirmed), None)
        .unwrap();
    assert!(account.email_unconfirmed);
}

#[test]
fn parses_the_legacy_wrapper_and_managed_users() {
    let account = client()
        .parse_account(&answer(201, LEGACY_JSON), None)
        .unwrap();
    assert_eq!(
        (account.id, account.username.as_str()),
        (2000002, "friendly")
    );
    let managed = r#"{"id": 2000005, "uuid": "e1f2a3b4c5d6e7f8", "username": "", "title": "Kids",
        "email": null, "thumb": "", "restricted": 1, "home": "1", "twoFactorEnabled": null}"#;
    let known = PlexToken::new("KIDSTOKEN");
    let account = client()
        .parse_account(&answer(200, managed), Some(&known))
        .unwrap();
    assert_eq!(
        (
            account.username.as_str(),
            account.email.as_deref(),
            account.thumb.as_deref()
        ),
        ("", None, None)
    );
    assert_eq!(account.display_name(), "Kids");
    assert!(account.restricted && account.home);
    assert_eq!(account.token, known);
}

#[test]
fn malformed_accounts_are_unexpected_and_do_not_echo_values() {
    for body in [
        "",
        "null",
        "[]",
        "{\"id\": \"abc\"}",
        "<user id=\"1\"/>",
        "{\"id\": 1, \"authToken\": 5}",
    ] {
        let err = client()
            .parse_account(&answer(200, body), None)
            .unwrap_err();
        assert_eq!(err.code(), "plex_unexpected", "{body}");
    }
    let err = client()
        .parse_account(
            &answer(200, r#"{"id": 1, "username": {"x": "SECRETVALUE"}}"#),
            None,
        )
        .unwrap_err();
    assert!(!err.to_string().contains("SECRETVALUE"), "{err}");
}

#[test]
fn resources_keep_servers_only() {
    let Value::Array(devices) = serde_json::from_str(RESOURCES_JSON).unwrap() else {
        panic!()
    };
    let servers: Vec<_> = devices.into_iter().filter_map(resource_to_server).collect();
    assert_eq!(servers.len(), 1);
    let home = &servers[0];
    assert_eq!(
        home.machine_identifier,
        "9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d"
    );
    assert!(home.owned);
    assert_eq!(home.presence, Some(true));
    assert_eq!(home.source_title, None);
    assert!(home.connections[0].local);
}

#[test]
fn sign_in_errors_map_to_what_a_person_can_do() {
    let c = client();
    let v2 = |code: u16, msg: &str| {
        format!(r#"{{"errors":[{{"code":{code},"message":"{msg}","status":401}}]}}"#)
    };
    let cases = [
        (401, v2(1001, "User could not be authenticated"), "bad_credentials"),
        (401, v2(1029, "Please enter the verification code"), "two_factor_required"),
        (401, v2(1028, "Invalid verification code"), "wrong_two_factor_code"),
        (401, v2(1031, "This IP appears to be having trouble"), "plex_rate_limited"),
        (400, v2(1000, "X-Plex-Client-Identifier is missing"), "plex_unexpected"),
        (401, r#"<errors><error code="1029" message="Please enter the verification code" status="401"/></errors>"#.into(), "two_factor_required"),
        (401, "Please enter the verification code".into(), "two_factor_required"),
        (401, "nope".into(), "bad_credentials"),
        (401, r#"{"error":"Please enter the verification code"}"#.into(), "two_factor_required"),
        (500, "<html>oops</html>".into(), "plex_unexpected"),
        (429, String::new(), "plex_rate_limited"),
    ];
    for (status, body, code) in cases {
        assert_eq!(
            c.failure(&answer(status, &body), Kind::SignIn).code(),
            code,
            "{status} {body}"
        );
    }
    assert_eq!(
        c.failure(&answer(401, &v2(1001, "x")), Kind::Token).code(),
        "plex_token_invalid"
    );
    assert_eq!(
        c.failure(
            &answer(
                401,
                "<errors><error>Invalid authentication token.</error></errors>"
            ),
            Kind::Token
        )
        .code(),
        "plex_token_invalid"
    );
    assert_eq!(
        c.failure(&answer(404, ""), Kind::Token).code(),
        "plex_unexpected"
    );
    let err = c.failure(&answer(503, ""), Kind::Pin);
    assert!(
        err.to_string()
            .contains("plex.tv at https://plex.tv gave an unexpected answer (HTTP 503)"),
        "{err}"
    );
}

#[test]
fn auth_app_url_is_encoded_like_the_browser_would() {
    let pin = Pin {
        id: 1,
        code: "k3x9q2m7v8p1w4r6t0y5u2i8o".into(),
        expires_in: Duration::ZERO,
        expires_at: SystemTime::now(),
    };
    let base = Url::parse("https://app.plex.tv/auth").unwrap();
    let url = client().auth_app_url(
        &base,
        &pin,
        Some("https://usher.example.com/plex/return?pin=1&x=a b"),
    );
    let expected_start = "https://app.plex.tv/auth#?clientID=5f0c0b8e-3f55-4a39-9a7a-2f4d1c6d9e11\
        &code=k3x9q2m7v8p1w4r6t0y5u2i8o&context%5Bdevice%5D%5Bproduct%5D=Usher&context%5Bdevice%5D%5Bversion%5D=";
    assert!(url.starts_with(expected_start), "{url}");
    assert!(
        url.ends_with(
            "&forwardUrl=https%3A%2F%2Fusher.example.com%2Fplex%2Freturn%3Fpin%3D1%26x%3Da%20b"
        ),
        "{url}"
    );
    let no_forward = client().auth_app_url(
        &Url::parse("http://127.0.0.1:9/auth#old").unwrap(),
        &pin,
        None,
    );
    assert!(
        no_forward.starts_with("http://127.0.0.1:9/auth#?clientID="),
        "{no_forward}"
    );
    assert!(!no_forward.contains("forwardUrl") && !no_forward.contains("old"));
}

#[test]
fn config_is_checked() {
    let mut config = PlexClientConfig::new("");
    assert_eq!(
        PlexClient::new(config.clone()).unwrap_err().code(),
        "plex_config"
    );
    config.client_identifier = "bad\nid".into();
    assert_eq!(
        PlexClient::new(config.clone()).unwrap_err().code(),
        "plex_config"
    );
    config.client_identifier = "ok".into();
    config.tv_url = Url::parse("ftp://plex.tv").unwrap();
    assert_eq!(PlexClient::new(config).unwrap_err().code(), "plex_config");
}

#[test]
fn pin_and_error_bodies_parse() {
    let pin: PinJson = serde_json::from_str(
        r#"{"id": 1894323456, "code": "k3x9q2m7v8p1w4r6t0y5u2i8o", "product": "Organizr", "trusted": false,
        "qr": "https://plex.tv/api/v2/pins/qr/k3x9q2m7v8p1w4r6t0y5u2i8o",
        "clientIdentifier": "5f0c0b8e-3f55-4a39-9a7a-2f4d1c6d9e11",
        "location": {"code": "US", "european_union_member": false, "coordinates": "39.8, -89.6"},
        "expiresIn": 1800, "createdAt": "2026-01-10T17:03:05Z", "expiresAt": "2026-01-10T17:33:05Z",
        "authToken": null, "newRegistration": null}"#,
    )
    .unwrap();
    assert_eq!(json_int(&pin.id), Some(1894323456));
    assert_eq!(json_int(&pin.expires_in), Some(1800));
    assert_eq!(pin.auth_token, None);
    assert_eq!(
        api_errors(b"{\"errors\":[{\"code\":1020,\"message\":\"Code not found or expired\"}]}")[0]
            .code,
        Some(1020)
    );
    assert!(api_errors(b"\xff\xfe").is_empty());
}

#[test]
fn pin_lifetimes_stay_within_a_day() {
    let of = |v: serde_json::Value| pin_lifetime(&Some(v)).as_secs();
    assert_eq!(of(serde_json::json!(1800)), 1800);
    assert_eq!(of(serde_json::json!("1800")), 1800);
    assert_eq!(of(serde_json::json!(-5)), 0);
    // What the fuzz target `plex` fed create_pin: SystemTime::now() + this overflowed.
    assert_eq!(of(serde_json::json!(i64::MAX)), 86_400);
    assert_eq!(pin_lifetime(&None).as_secs(), 0);
    let _ = std::time::SystemTime::now() + pin_lifetime(&Some(serde_json::json!(i64::MAX)));
}
