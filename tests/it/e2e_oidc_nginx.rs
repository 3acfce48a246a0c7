//! A person's walk through OpenID Connect with Usher behind real nginx on a non-standard port:
//! a fresh install, nginx as `usher proxy-config` prints Usher's own location, `public_url`
//! with the port, a client registered with `usher oidc client add` as docs/oidc.md says, then
//! headless Chromium from the relying party through Usher's sign-in page and back, and the
//! relying party's code exchange (PKCE) and userinfo through nginx. A port lost anywhere, an
//! issuer built from the wrong host behind the proxy, or X-Forwarded-* mishandled fails it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Query;
use axum::response::Html;
use axum::routing::get;
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, RedirectUrl};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::oidc::{exchange, rp_http, Rp};
use crate::oidc_browser::{start_page, Pending};
use crate::proxy_config::{run_cli, subdirectory_snippet};
use crate::support::browser::Browser;
use crate::support::echo::spawn_echo;
use crate::support::nginx::Nginx;
use crate::support::{TestApp, PASSWORD};

/// `usher ARGS… --data-dir DIR --database-url URL` on the install `app` runs on; its stdout.
fn usher_cli(app: &TestApp, args: &[&str]) -> String {
    let dir = app.data_dir.path().to_str().unwrap();
    let url = &app.core.config.database_url;
    let mut all = args.to_vec();
    all.extend_from_slice(&["--data-dir", dir, "--database-url", url]);
    let (ok, out, err) = run_cli(&all);
    assert!(ok, "usher {args:?} failed: {err}");
    out
}

/// nginx in front of Usher on a free port, with the lines `usher proxy-config` prints for
/// Usher at `/` (and one app beside it), pasted as printed into one server block.
async fn nginx_in_front_of(app: &TestApp, echo: std::net::SocketAddr) -> Nginx {
    let snippet = subdirectory_snippet(
        "nginx",
        app.addr,
        &[format!("tautulli,upstream=http://{echo}")],
        &[],
    );
    assert!(
        snippet.contains("location / {"),
        "Usher's own location: {snippet}"
    );
    let nginx = Nginx::start(&format!(
        "server {{\n    listen 127.0.0.1:{{{{PORT}}}};\n{snippet}}}\n"
    ))
    .await;
    assert!(![80, 443].contains(&nginx.port()));
    nginx
}

/// Waits (bounded) until the running server announces `issuer` through nginx.
async fn discovery_says(issuer: &str, nginx: &Nginx) -> Value {
    let url = format!("{issuer}/.well-known/openid-configuration");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            if r.status() == 200 {
                let doc: Value = r.json().await.unwrap();
                if doc["issuer"] == issuer {
                    return doc;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "discovery never named {issuer}: {}",
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The relying party's two pages: /start sends the browser to the authorization endpoint
/// discovery named; /callback hands what arrived to the test.
async fn serve_relying_party(
    listener: tokio::net::TcpListener,
    rp: Arc<Rp>,
    pending: Pending,
) -> mpsc::UnboundedReceiver<HashMap<String, String>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let router = axum::Router::new()
        .route("/start", start_page(rp, pending))
        .route(
            "/callback",
            get(move |Query(q): Query<HashMap<String, String>>| async move {
                let _ = tx.send(q);
                Html("RP: callback received")
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    rx
}

#[tokio::test]
async fn oidc_sign_in_through_nginx_on_a_non_standard_port_keeps_port_and_issuer() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let (echo, _echo_task) = spawn_echo().await;
    let nginx = nginx_in_front_of(&app, echo).await;
    let issuer = nginx.url("");

    // docs/oidc.md: public_url turns the provider on; the issuer is that value exactly.
    usher_cli(
        &app,
        &["settings", "set", "public_url", &format!("\"{issuer}\"")],
    );
    let doc = discovery_says(&issuer, &nginx).await;
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        let at = doc[endpoint].as_str().unwrap_or_default();
        assert!(at.starts_with(&format!("{issuer}/")), "{endpoint}: {at}");
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rp_addr = listener.local_addr().unwrap();
    let callback = format!("http://{rp_addr}/callback");
    let added = usher_cli(
        &app,
        &[
            "oidc",
            "client",
            "add",
            "notes",
            "--name",
            "Notes",
            "--group",
            "4",
            "--redirect-uri",
            &callback,
        ],
    );
    let secret = added
        .split("client_secret: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no secret printed: {added}"))
        .to_string();

    // The relying party configures itself from discovery through nginx (the crate checks the
    // document's issuer against the URL it asked).
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &rp_http())
            .await
            .expect("discovery and JWKS through nginx");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("notes".into()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(RedirectUrl::new(callback.clone()).unwrap());
    let rp = Arc::new(rp);
    let pending: Pending = Arc::default();
    let mut arrived = serve_relying_party(listener, rp.clone(), pending.clone()).await;

    let browser = Browser::start().await;
    browser.goto(&format!("http://{rp_addr}/start")).await;
    let login = browser.wait_for_url(|u| u.contains("/login?rd=")).await;
    assert!(
        login.starts_with(&format!("{issuer}/login?rd=")),
        "Usher's sign-in page with the port: {login}"
    );
    browser.screenshot("oidc-nginx-sign-in").await;
    browser.fill("input[name=username]", "alice").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_url(|u| u.starts_with(&callback)).await;
    browser.wait_for_text("RP: callback received").await;
    browser.close().await;

    let q = arrived.recv().await.expect("the callback's query");
    let (state, nonce, verifier) = pending.lock().unwrap().take().expect("a pending sign-in");
    assert_eq!(q.get("state"), Some(state.secret()), "{q:?}");
    assert_eq!(
        q.get("iss"),
        Some(&issuer),
        "RFC 9207 iss with the port: {q:?}"
    );
    let code = q.get("code").unwrap_or_else(|| panic!("no code: {q:?}"));

    // Exchange with PKCE through nginx; the crate verifies signature, iss, aud, exp, nonce.
    let (tokens, claims) = exchange(&rp, code, verifier, &nonce).await;
    assert_eq!(claims.issuer().as_str(), issuer);
    let audiences: Vec<_> = claims.audiences().iter().map(|a| a.as_str()).collect();
    assert_eq!(audiences, ["notes"]);
    assert_eq!(claims.preferred_username().unwrap().as_str(), "alice");

    let info: CoreUserInfoClaims = rp
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&rp_http())
        .await
        .expect("userinfo through nginx");
    assert_eq!(info.preferred_username().unwrap().as_str(), "alice");
    assert_eq!(info.email().unwrap().as_str(), "alice@example.com");

    // Every step went through nginx, not around it.
    let log = nginx.access_log();
    for step in [
        "GET /oidc/authorize?",
        "POST /login ",
        "POST /oidc/token ",
        "GET /oidc/userinfo ",
        "GET /oidc/jwks ",
    ] {
        assert!(
            log.contains(step),
            "no {step:?} in nginx's access log:\n{log}"
        );
    }
}
