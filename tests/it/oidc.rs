//! Usher as an OpenID Connect provider, driven by an independent relying party: the
//! `openidconnect` crate does discovery, JWKS, the code flow with PKCE, id_token validation,
//! userinfo and refresh. The refusals are in oidc_refusals.rs.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreTokenResponse,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{json, Value};
use usher::auth::accounts::Acting;
use usher::oidc::clients::{self, NewClient};
use usher::store::Actor;

use crate::support::TestApp;

/// The redirect URI every test client registers (nothing listens there: the tests read the
/// `Location` Usher answers with).
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Usher with `public_url` set to its own address (the issuer).
pub async fn provider() -> TestApp {
    let app = TestApp::spawn().await;
    let issuer = app.url("");
    let patch = json!({ "public_url": issuer });
    app.core
        .update_settings(patch.as_object().unwrap(), &Acting::cli())
        .await
        .expect("settings saved")
        .expect("public_url accepted");
    app
}

/// Registers a client; returns its secret (None for a public one).
pub async fn register(app: &TestApp, id: &str, public: bool, group: Option<i64>) -> Option<String> {
    let (_, secret) = clients::add(
        &app.core.store,
        NewClient {
            id: id.into(),
            name: None,
            redirect_uris: vec![REDIRECT.into()],
            max_group: group,
            public,
            allow_http: false,
            secret: None,
        },
        &Actor::cli(),
    )
    .await
    .expect("client registered");
    secret
}

/// The HTTP client the relying party uses: never follows redirects (as the crate asks).
pub fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A relying party as discovery configures it.
pub type Rp = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// A relying party for `id`, configured by discovery.
pub async fn relying_party(app: &TestApp, id: &str, secret: Option<String>) -> Rp {
    let issuer = IssuerUrl::new(app.url("")).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &rp_http())
        .await
        .expect("discovery and JWKS");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(id.into()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
}

/// The query of a redirect Usher answered with.
pub fn redirect_query(r: &reqwest::Response) -> std::collections::HashMap<String, String> {
    let location = r
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location (status {})", r.status()))
        .to_str()
        .unwrap();
    let url = url::Url::parse(location).expect("absolute redirect");
    url.query_pairs().into_owned().collect()
}

/// Follows an authorization URL with a signed-in browser; returns the redirect's query.
pub async fn authorize(
    browser: &reqwest::Client,
    url: &str,
) -> std::collections::HashMap<String, String> {
    let r = browser.get(url).send().await.unwrap();
    assert_eq!(r.status(), 302, "authorize answered {}", r.status());
    let q = redirect_query(&r);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(REDIRECT),
        "went elsewhere: {:?}",
        r.headers()["location"]
    );
    q
}

/// An authorization request for `scopes` with PKCE; the URL, state, nonce and verifier.
pub fn auth_request(rp: &Rp, scopes: &[&str]) -> (String, CsrfToken, Nonce, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = rp.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for s in scopes {
        req = req.add_scope(Scope::new(s.to_string()));
    }
    let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
    (url.to_string(), state, nonce, verifier)
}

/// Exchanges a code (with its PKCE verifier) and checks the id_token as the crate does: the
/// tokens and the id_token's claims.
pub async fn exchange(
    rp: &Rp,
    code: &str,
    verifier: PkceCodeVerifier,
    nonce: &Nonce,
) -> (CoreTokenResponse, CoreIdTokenClaims) {
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http())
        .await
        .expect("code exchange");
    let claims = tokens
        .id_token()
        .expect("an id_token")
        .claims(&rp.id_token_verifier(), nonce)
        .expect("id_token verifies (signature via JWKS, iss, aud, exp, nonce)")
        .clone();
    (tokens, claims)
}

/// Signs the browser in to `rp` (code flow, PKCE, state checked): see [`exchange`].
pub async fn sign_in(
    rp: &Rp,
    browser: &reqwest::Client,
    scopes: &[&str],
) -> (CoreTokenResponse, CoreIdTokenClaims) {
    let (url, state, nonce, verifier) = auth_request(rp, scopes);
    let q = authorize(browser, &url).await;
    assert_eq!(q["state"], *state.secret());
    exchange(rp, &q["code"], verifier, &nonce).await
}

/// The raw token endpoint answer for a form (for refusals the crate would hide).
pub async fn token_raw(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(app.url("/oidc/token"))
        .form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// userinfo with a bearer token: status and body.
pub async fn userinfo_raw(app: &TestApp, token: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(app.url("/oidc/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_relying_party_signs_in_with_discovery_pkce_userinfo_and_refresh() {
    let app = provider().await;
    let secret = register(&app, "grafana", false, None).await;
    let rp = relying_party(&app, "grafana", secret.clone()).await;
    let browser = app.signed_in("alice", 2).await;

    let (tokens, claims) = sign_in(&rp, &browser, &["profile", "email", "groups"]).await;
    let sub = claims.subject().clone();
    assert_eq!(sub.as_str().len(), 36, "a UUID: {}", sub.as_str());
    assert_eq!(claims.preferred_username().unwrap().as_str(), "alice");
    assert_eq!(claims.email().unwrap().as_str(), "alice@example.com");
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.auth_time().is_some());
    assert!(
        tokens.refresh_token().is_some(),
        "confidential clients always get one"
    );

    // userinfo, through the crate (subject checked) and raw (the group claims).
    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), Some(sub.clone()))
        .unwrap()
        .request_async(&rp_http())
        .await
        .expect("userinfo");
    assert_eq!(info.preferred_username().unwrap().as_str(), "alice");
    let (status, raw) = userinfo_raw(&app, tokens.access_token().secret()).await;
    assert_eq!(status, 200);
    assert_eq!(raw["groups"], json!(["Super User"]));
    assert_eq!(raw["usher_group"], 2);

    // Refresh: new tokens, the same person; the old refresh token is spent.
    let first_refresh = tokens.refresh_token().unwrap().clone();
    let refreshed = rp
        .exchange_refresh_token(&first_refresh)
        .unwrap()
        .request_async(&rp_http())
        .await
        .expect("refresh");
    let again = refreshed
        .id_token()
        .unwrap()
        .claims(&rp.id_token_verifier(), |_: Option<&Nonce>| Ok(()));
    assert_eq!(again.expect("refreshed id_token verifies").subject(), &sub);
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        first_refresh.secret()
    );
    let (status, _) = userinfo_raw(&app, refreshed.access_token().secret()).await;
    assert_eq!(status, 200);

    // The same person gets the same sub next time.
    let (_, c) = sign_in(&rp, &browser, &[]).await;
    assert_eq!(c.subject(), &sub);
    assert!(
        c.preferred_username().is_none(),
        "no profile scope, no profile claims"
    );
    app.stop().await;
}

#[tokio::test]
async fn client_secret_post_and_a_public_client_with_offline_access() {
    let app = provider().await;
    let secret = register(&app, "portainer", false, None).await;
    register(&app, "spa", true, None).await;
    let browser = app.signed_in("bob", 4).await;

    let rp = relying_party(&app, "portainer", secret)
        .await
        .set_auth_type(AuthType::RequestBody);
    sign_in(&rp, &browser, &["profile"]).await;

    // A public client: PKCE, no secret; a refresh token only with offline_access.
    let spa = relying_party(&app, "spa", None).await;
    for (scopes, refresh) in [(&["profile"][..], false), (&["offline_access"][..], true)] {
        let (t, _) = sign_in(&spa, &browser, scopes).await;
        assert_eq!(t.refresh_token().is_some(), refresh, "scopes {scopes:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn discovery_names_the_issuer_exactly_and_is_404_without_public_url() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .get_json(&app.client(), "/.well-known/openid-configuration")
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_configured");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("public_url"));
    app.stop().await;

    let app = provider().await;
    let (status, doc) = app
        .get_json(&app.client(), "/.well-known/openid-configuration")
        .await;
    assert_eq!(status, 200);
    let iss = app.url("");
    assert_eq!(doc["issuer"], iss);
    assert_eq!(doc["token_endpoint"], format!("{iss}/oidc/token"));
    assert_eq!(doc["end_session_endpoint"], format!("{iss}/oidc/logout"));
    assert_eq!(doc["revocation_endpoint"], format!("{iss}/oidc/revoke"));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    let (status, jwks) = app.get_json(&app.client(), "/oidc/jwks").await;
    assert_eq!(status, 200);
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(key.get("d").is_none(), "never the private part");
    // The private key is stored encrypted with the instance key.
    let pool = crate::api_login::db(&app).await;
    let stored: String = sqlx::query_scalar("SELECT private_key FROM oidc_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.starts_with("enc:v1:"));
    app.stop().await;
}

#[tokio::test]
async fn a_token_signed_by_a_rotated_out_key_no_longer_verifies() {
    let app = provider().await;
    let secret = register(&app, "grafana", false, None).await;
    let browser = app.signed_in("carol", 4).await;
    let rp = relying_party(&app, "grafana", secret.clone()).await;
    let (t, _) = sign_in(&rp, &browser, &[]).await;
    let old = t.id_token().unwrap().clone();
    let any_nonce = |_: Option<&Nonce>| Ok(());

    // A normal rotation keeps the old key published: the old token still verifies.
    usher::oidc::keys::rotate(&app.core.store, &app.core.secret_key, 3600)
        .await
        .unwrap();
    app.core.oidc_keys.forget();
    let rp = relying_party(&app, "grafana", secret.clone()).await;
    old.claims(&rp.id_token_verifier(), any_nonce)
        .expect("previous key still published");
    let (_, jwks) = app.get_json(&app.client(), "/oidc/jwks").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);

    // Dropping it (a compromised key): relying parties that re-read the JWKS refuse the token.
    usher::oidc::keys::rotate(&app.core.store, &app.core.secret_key, 0)
        .await
        .unwrap();
    wait_for_keys(&app, 1).await;
    let rp = relying_party(&app, "grafana", secret).await;
    assert!(
        old.claims(&rp.id_token_verifier(), any_nonce).is_err(),
        "rotated-out key accepted"
    );
    app.stop().await;
}

/// Waits until the server (told by the change feed) publishes `n` keys.
async fn wait_for_keys(app: &TestApp, n: usize) {
    for _ in 0..100 {
        let (_, jwks) = app.get_json(&app.client(), "/oidc/jwks").await;
        if jwks["keys"].as_array().is_some_and(|k| k.len() == n) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the JWKS never showed {n} keys");
}
