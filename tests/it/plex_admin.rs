//! The admin's Retrieve buttons as API: the owner-token PIN flow, the server list (with its
//! fallback), the token + machine check, and the Plex settings through the settings API.

use serde_json::{json, Value};

use crate::api_login::send;
use crate::support::assert_error;
use crate::support::fake_plex::{seeded::*, Mode};
use crate::support::plex_app::PlexApp;

async fn admin_client(p: &PlexApp) -> reqwest::Client {
    p.app.signed_in("boss", 0).await
}

#[tokio::test]
async fn the_owner_token_is_retrieved_through_a_pin_and_saved_encrypted() {
    let p = PlexApp::start().await;
    p.set(json!({"plex.token": null})).await;
    let admin = admin_client(&p).await;
    let (status, pin) = send(&p.app, &admin, "POST", "/api/v2/plex/admin/pin", None).await;
    assert_eq!(status, 201, "{pin}");
    let id = pin["id"].as_i64().unwrap();
    assert!(pin["auth_url"].as_str().unwrap().contains("clientID="));
    let path = format!("/api/v2/plex/admin/pin/{id}");
    assert_eq!(send(&p.app, &admin, "GET", &path, None).await.0, 202);
    p.wait_pin_check().await;
    // Another admin's browser cannot collect it.
    let other = p.app.signed_in("other-admin", 0).await;
    assert!(p.fake.approve_pin(id, OWNER));
    assert_eq!(send(&p.app, &other, "GET", &path, None).await.0, 404);
    let (status, body) = send(&p.app, &admin, "GET", &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "saved");
    assert_eq!(body["account"]["id"], OWNER);
    assert_eq!(body["account"]["username"], "adminuser");
    let token = p.fake.account(OWNER).token;
    let settings = p.app.core.settings();
    assert_eq!(settings.plex.token.as_ref().unwrap().expose(), token);
    let stored = p.app.core.store.load_settings().await.unwrap();
    assert!(!stored["plex.token"].contains(&token), "encrypted at rest");
    let (_, listed) = send(&p.app, &admin, "GET", "/api/v2/settings", None).await;
    let text = listed.to_string();
    assert!(!text.contains(&token), "masked in the settings API");
    let audit = p.app.core.store.audit_recent(20).await.unwrap();
    assert!(
        !serde_json::to_string(&audit).unwrap().contains(&token),
        "not in the audit log"
    );
    // Friends can sign in with the retrieved token.
    let (status, _) = p.oauth_as(&p.app.client(), FRIEND_A).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn only_admins_use_the_plex_admin_api() {
    let p = PlexApp::start().await;
    let user = p.app.signed_in("user", 4).await;
    for (method, path) in [
        ("POST", "/api/v2/plex/admin/pin"),
        ("GET", "/api/v2/plex/admin/pin/1"),
        ("GET", "/api/v2/plex/servers"),
        ("GET", "/api/v2/plex/validate"),
    ] {
        let (status, body) = send(&p.app, &user, method, path, None).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        let (status, _) = send(&p.app, &p.app.client(), method, path, None).await;
        assert_eq!(status, 401, "{method} {path}");
    }
    assert!(p
        .fake
        .requests()
        .iter()
        .all(|r| !r.path.starts_with("/api/v2/pins")));
}

#[tokio::test]
async fn servers_are_listed_with_name_machine_id_and_owned() {
    let p = PlexApp::start().await;
    let admin = admin_client(&p).await;
    let (status, body) = send(&p.app, &admin, "GET", "/api/v2/plex/servers", None).await;
    assert_eq!(status, 200, "{body}");
    let servers = body["servers"].as_array().unwrap();
    let find = |m: &str| servers.iter().find(|s| s["machine_id"] == m).cloned();
    let home = find(MACHINE_A).expect("HomeServer");
    assert_eq!(
        (home["name"].as_str(), home["owned"].as_bool()),
        (Some("HomeServer"), Some(true))
    );
    assert_eq!(find(MACHINE_B).unwrap()["owned"], true);
    let other = find(MACHINE_OTHER).expect("the neighbour's shared server");
    assert_eq!(other["owned"], false);
    assert_eq!(other["owner"], "someoneelse");
    assert_eq!(servers.len(), 3, "clients are not servers: {body}");
    assert!(
        !body.to_string().contains("TOKEN"),
        "no access tokens handed out: {body}"
    );
    let (_, owned) = send(&p.app, &admin, "GET", "/api/v2/plex/servers?owned=1", None).await;
    assert_eq!(owned["servers"].as_array().unwrap().len(), 2);
    assert_eq!(
        p.fake.requests_to("/pms/servers").len(),
        0,
        "resources answered"
    );

    // /api/v2/resources broken: the same list from /pms/servers.
    p.fake
        .set_route_mode("/api/v2/resources", Some(Mode::Error500));
    let (status, fallback) = send(&p.app, &admin, "GET", "/api/v2/plex/servers", None).await;
    assert_eq!(status, 200, "{fallback}");
    let mut names: Vec<&str> = fallback["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["HomeServer", "OtherServer", "SecondServer"]);
    assert_eq!(p.fake.requests_to("/pms/servers").len(), 1);
    // Both broken: a clear error.
    p.fake.set_mode(Mode::Error500);
    let (status, body) = send(&p.app, &admin, "GET", "/api/v2/plex/servers", None).await;
    assert_eq!(status, 502, "{body}");
    assert_error(&body, "plex_unexpected");
}

#[tokio::test]
async fn validate_checks_that_token_and_machine_belong_together() {
    let p = PlexApp::start().await;
    let admin = admin_client(&p).await;
    let check = |expect_ok: bool, what: &'static str| {
        let (p, admin) = (&p, &admin);
        async move {
            let (status, body) = send(&p.app, admin, "GET", "/api/v2/plex/validate", None).await;
            assert_eq!(status, 200, "{what}: {body}");
            assert_eq!(body["ok"], expect_ok, "{what}: {body}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
            body
        }
    };
    let body = check(true, "owner token + owned machine").await;
    assert_eq!(body["account"]["id"], OWNER);
    assert_eq!(body["machine"]["name"], "HomeServer");
    p.set(json!({"plex.machine_id": MACHINE_OTHER})).await;
    let body = check(false, "a server only shared with the owner").await;
    assert!(
        body["message"].as_str().unwrap().contains("shared"),
        "{body}"
    );
    p.set(json!({"plex.machine_id": "ffffffffffffffffffffffffffffffffffffffff"}))
        .await;
    check(false, "an unknown machine").await;
    p.set(json!({"plex.machine_id": null})).await;
    check(false, "no machine").await;

    p.set(json!({"plex.token": p.fake.account(FRIEND_A).token, "plex.machine_id": MACHINE_A}))
        .await;
    check(false, "a friend's token cannot own the machine").await;
    p.fake.revoke_token(FRIEND_A);
    let (status, body) = send(&p.app, &admin, "GET", "/api/v2/plex/validate", None).await;
    assert_eq!(status, 502, "{body}");
    assert_error(&body, "plex_admin_token_invalid");
    p.set(json!({"plex.token": null})).await;
    let (status, body) = send(&p.app, &admin, "GET", "/api/v2/plex/validate", None).await;
    assert_eq!(status, 503, "{body}");
    assert_error(&body, "plex_not_configured");
}

#[tokio::test]
async fn plex_settings_through_the_settings_api() {
    let p = PlexApp::start().await;
    let admin = admin_client(&p).await;
    let (status, body) = send(
        &p.app,
        &admin,
        "PATCH",
        "/api/v2/settings",
        Some(
            json!({"plex.token": "NEWTOKEN123", "plex.admin": "adminuser", "auth_type": "backend"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let entry = |key: &str| -> Value {
        body["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} listed"))
    };
    assert_eq!(entry("plex.token")["value"], "********");
    assert_eq!(entry("plex.token")["secret"], true);
    assert_eq!(entry("plex.admin")["value"], "adminuser");
    assert_eq!(entry("plex.strict_friends")["value"], true);
    assert_eq!(entry("plex.default_group")["value"], 4);
    assert_eq!(entry("plex.friends_refresh_seconds")["default"], 600);
    assert_eq!(
        entry("plex.auth_url")["default"],
        "https://app.plex.tv/auth"
    );
    assert!(!body.to_string().contains("NEWTOKEN123"));
    for (key, bad) in [
        ("auth_type", json!("ldap")),
        ("auth_backend", json!("emby")),
        ("plex.default_group", json!(0)),
        ("plex.machine_id", json!("not a machine")),
        ("plex.tv_url", json!("plex.tv")),
    ] {
        let (status, body) = send(
            &p.app,
            &admin,
            "PATCH",
            "/api/v2/settings",
            Some(json!({ key: bad })),
        )
        .await;
        assert_eq!(status, 400, "{key}: {body}");
        assert!(body["error"]["fields"][key].is_string(), "{body}");
    }
}
