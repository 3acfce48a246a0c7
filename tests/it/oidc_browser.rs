//! A real browser round trip through Usher's OpenID Connect provider: a small relying party
//! (an axum app in the test using the `openidconnect` crate) sends headless Chromium to Usher,
//! the person signs in there (password; and once with a Plex PIN through the fake plex.tv) and
//! arrives back at the relying party signed in. Screenshots in target/test-artifacts/.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::Query;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::{get, MethodRouter};
use openidconnect::{CsrfToken, Nonce, PkceCodeVerifier};
use usher::oidc::clients::{self, NewClient};
use usher::store::Actor;

use crate::oidc::{auth_request, exchange, relying_party, Rp};
use crate::plex_browser::approve_in_plex_popup;
use crate::support::browser::Browser;
use crate::support::fake_plex::seeded::FRIEND_A;
use crate::support::plex_app::PlexApp;
use crate::support::{TestApp, PASSWORD};

/// The relying party's sign-in in progress: state, nonce and PKCE verifier.
pub(crate) type Pending = Arc<Mutex<Option<(CsrfToken, Nonce, PkceCodeVerifier)>>>;

/// The relying party's `/start`: remembers a fresh state, nonce and verifier in `pending` and
/// sends the browser to the authorization endpoint discovery named.
pub(crate) fn start_page(rp: Arc<Rp>, pending: Pending) -> MethodRouter {
    get(move || async move {
        let (url, state, nonce, verifier) = auth_request(&rp, &["profile", "email"]);
        *pending.lock().unwrap() = Some((state, nonce, verifier));
        Redirect::to(&url)
    })
}

/// Sets public_url, registers the relying party and starts it; returns its address.
async fn start_relying_party(app: &TestApp) -> SocketAddr {
    let patch = serde_json::json!({ "public_url": app.url("") });
    app.core
        .update_settings(
            patch.as_object().unwrap(),
            &usher::auth::accounts::Acting::cli(),
        )
        .await
        .unwrap()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let callback = format!("http://{addr}/callback");
    let (_, secret) = clients::add(
        &app.core.store,
        NewClient {
            id: "notes".into(),
            name: Some("Notes".into()),
            redirect_uris: vec![callback.clone()],
            max_group: None,
            public: false,
            allow_http: false,
            secret: None,
        },
        &Actor::cli(),
    )
    .await
    .unwrap();
    let rp = relying_party(app, "notes", secret)
        .await
        .set_redirect_uri(openidconnect::RedirectUrl::new(callback).unwrap());
    let rp = Arc::new(rp);
    let pending: Pending = Arc::default();
    let (rp2, pending2) = (rp.clone(), pending.clone());
    let router = axum::Router::new()
        .route("/start", start_page(rp, pending))
        .route(
            "/callback",
            get(move |Query(q): Query<HashMap<String, String>>| async move {
                let Some((state, nonce, verifier)) = pending2.lock().unwrap().take() else {
                    return Html("no sign-in pending".to_string()).into_response();
                };
                if q.get("state") != Some(state.secret()) {
                    return Html("state mismatch".to_string()).into_response();
                }
                let Some(code) = q.get("code") else {
                    return Html(format!("refused: {q:?}")).into_response();
                };
                let (_, claims) = exchange(&rp2, code, verifier, &nonce).await;
                let name = claims.preferred_username().map(|n| n.to_string());
                Html(format!("RP: signed in as {}", name.unwrap_or_default())).into_response()
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test]
async fn a_relying_party_signs_a_person_in_with_a_password_in_a_real_browser() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let rp = start_relying_party(&app).await;
    let browser = Browser::start().await;
    browser.goto(&format!("http://{rp}/start")).await;
    browser.wait_for_url(|u| u.contains("/login?rd=")).await;
    browser.screenshot("oidc-usher-sign-in").await;
    browser.fill("input[name=username]", "alice").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser
        .wait_for_url(|u| u.starts_with(&format!("http://{rp}/callback")))
        .await;
    browser.wait_for_text("RP: signed in as alice").await;
    browser.screenshot("oidc-back-at-relying-party").await;
    // Signed in at Usher now: a second app sign-in goes straight through.
    browser.goto(&format!("http://{rp}/start")).await;
    browser
        .wait_for_url(|u| u.starts_with(&format!("http://{rp}/callback")))
        .await;
    browser.wait_for_text("RP: signed in as alice").await;
    browser.close().await;
}

#[tokio::test]
async fn a_relying_party_signs_a_person_in_with_a_plex_pin_in_a_real_browser() {
    let p = PlexApp::start().await;
    let rp = start_relying_party(&p.app).await;
    let browser = Browser::start().await;
    browser.goto(&format!("http://{rp}/start")).await;
    browser.wait_for_url(|u| u.contains("/login?rd=")).await;
    approve_in_plex_popup(&browser, &p, FRIEND_A, "oidc-plex").await;
    browser
        .wait_for_url(|u| u.starts_with(&format!("http://{rp}/callback")))
        .await;
    browser.wait_for_text("RP: signed in as friendly").await;
    browser.screenshot("oidc-plex-back-at-relying-party").await;
    browser.close().await;
}

#[tokio::test]
async fn the_admin_registers_an_app_on_the_settings_page_and_sees_its_secret_once() {
    let app = crate::oidc::provider().await;
    app.add_user("root", 0).await;
    let browser = Browser::start().await;
    browser
        .goto(&app.url("/login?rd=%2Fsettings%2Fsso%2Fopenid-connect"))
        .await;
    browser.fill("input[name=username]", "root").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("Register an app").await;
    browser.fill("#oidc-id", "grafana").await;
    browser
        .fill(
            "#oidc-uris",
            "https://grafana.example.com/login/generic_oauth",
        )
        .await;
    browser.click("#oidc-add-button").await;
    browser.wait_for_text("Client secret for grafana").await;
    browser.wait_for_text("Registered:").await;
    browser.screenshot("oidc-settings-secret-shown-once").await;
    let secret = browser.find("#secret-value").await.text().await.unwrap();
    let client = app
        .core
        .store
        .oidc_client("grafana")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.max_group, 4);
    assert_eq!(
        client.secret_hash.as_deref(),
        Some(usher::oidc::hash_value(&secret).as_str()),
        "the page showed the secret whose hash is stored"
    );
    // Back on the page: listed, and the secret is not shown again.
    browser.goto(&app.url("/settings/sso/openid-connect")).await;
    let text = browser.wait_for_text("grafana").await;
    assert!(!text.contains(&secret));
    browser.close().await;
}
