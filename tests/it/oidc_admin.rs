//! OpenID Connect clients through the admin API and the settings page: the Admin only, every
//! change audited, secrets shown once and kept hashed.

use serde_json::{json, Value};

use crate::oidc::{provider, token_raw};
use crate::support::{assert_error, TestApp};

async fn send(
    app: &TestApp,
    c: &reqwest::Client,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = c.request(method.parse().unwrap(), app.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_admin_registers_changes_rekeys_and_deletes_a_client_and_each_step_is_audited() {
    let app = provider().await;
    let admin = app.signed_in("root", 0).await;
    let body = json!({"id": "grafana", "name": "Grafana", "redirect_uris": ["https://grafana.example.com/login/generic_oauth"], "group": 2});
    let (status, created) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/oidc/clients",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 43);
    assert_eq!(created["client"]["max_group"], 2);
    assert!(created["client"].get("secret_hash").is_none());
    let (status, dup) = send(&app, &admin, "POST", "/api/v2/oidc/clients", Some(body)).await;
    assert_eq!(status, 409);
    assert_error(&dup, "conflict");

    // Plain http beyond loopback is refused unless allowed.
    let lan = json!(["http://grafana.lan/cb"]);
    let path = "/api/v2/oidc/clients/grafana";
    let refused = json!({ "redirect_uris": lan });
    let (status, e) = send(&app, &admin, "PATCH", path, Some(refused)).await;
    assert_eq!(status, 400);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("loopback"), "{e}");
    let allowed = json!({ "redirect_uris": lan, "allow_http": true });
    let (status, c) = send(&app, &admin, "PATCH", path, Some(allowed)).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        c["client"]["redirect_uris"],
        json!(["http://grafana.lan/cb"])
    );

    // A new secret: the old one stops working at the token endpoint.
    let (status, s) = send(
        &app,
        &admin,
        "POST",
        "/api/v2/oidc/clients/grafana/secret",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let new_secret = s["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let form = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    assert_eq!(
        token_raw(&app, &form, Some(("grafana", &secret))).await.0,
        401
    );
    let (status, body) = token_raw(&app, &form, Some(("grafana", new_secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let (status, list) = send(&app, &admin, "GET", "/api/v2/oidc/clients", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["clients"][0]["id"], "grafana");
    let (status, _) = send(&app, &admin, "DELETE", "/api/v2/oidc/clients/grafana", None).await;
    assert_eq!(status, 204);
    let (status, _) = send(&app, &admin, "GET", "/api/v2/oidc/clients/grafana", None).await;
    assert_eq!(status, 404);

    let pool = crate::api_login::db(&app).await;
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'oidc_client.%' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "oidc_client.create",
            "oidc_client.update",
            "oidc_client.secret",
            "oidc_client.delete"
        ]
    );
    let details: Vec<Option<String>> = sqlx::query_scalar("SELECT detail FROM audit_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(details
        .iter()
        .flatten()
        .all(|d| !d.contains(&secret) && !d.contains(new_secret)));
    app.stop().await;
}

#[tokio::test]
async fn co_admins_and_users_may_not_touch_clients() {
    let app = provider().await;
    for (name, group) in [("co", 1), ("user", 4)] {
        let c = app.signed_in(name, group).await;
        let (status, _) = send(&app, &c, "GET", "/api/v2/oidc/clients", None).await;
        assert_eq!(status, 403, "{name}");
        let body = json!({"id": "x", "redirect_uris": ["https://x.example.com/cb"]});
        let (status, _) = send(&app, &c, "POST", "/api/v2/oidc/clients", Some(body)).await;
        assert_eq!(status, 403, "{name}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_settings_page_lists_clients_with_the_discovery_url_to_copy() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("root", 0).await;
    let page = app.get_text(&admin, "/settings/sso/openid-connect").await;
    assert!(
        page.contains("id=\"oidc-off\""),
        "says why the provider is off"
    );
    app.stop().await;

    let app = provider().await;
    crate::oidc::register(&app, "immich", false, None).await;
    let admin = app.signed_in("root", 0).await;
    let page = app.get_text(&admin, "/settings/sso/openid-connect").await;
    let discovery = format!("{}/.well-known/openid-configuration", app.url(""));
    assert!(
        page.contains(&format!("data-copy=\"{discovery}\"")),
        "copy button for discovery"
    );
    assert!(page.contains("data-client=\"immich\""));
    assert!(
        page.contains("oidc.access_token_seconds"),
        "the lifetimes are on the page"
    );
    assert!(page.contains("id=\"oidc-add\""));
    app.stop().await;
}
