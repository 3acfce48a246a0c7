//! Two-factor sign-in (TOTP) over real HTTP: enrol, confirm, sign in with and without a code,
//! replay, recovery codes, throttling, turning it off, an administrator's reset, the
//! requirement for groups (no proxy auth, no SSO until enrolled) and Plex sign-ins (asked for the
//! code, or skipping it when Plex's own two-factor is trusted). The codes here come from this file's
//! own RFC 6238 implementation (HMAC-SHA1 from the `hmac` and `sha1` crates), not Usher's.

use hmac::{Hmac, Mac};
use reqwest::{Client, Response};
use serde_json::{json, Value};
use sha1::Sha1;

use crate::api_login::{set_cookies, set_settings};
use crate::support::fake_plex::seeded::FRIEND_A;
use crate::support::plex_app::{PlexApp, PlexSetup};
use crate::support::{assert_error, TestApp, PASSWORD};

// ---------- an independent RFC 6238 ----------

/// RFC 4648 base32 (no padding) to bytes.
pub(crate) fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u64;
        value = (value << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
        }
    }
    out
}

/// The RFC 6238 (SHA-1) code of `secret` at Unix time `at`, `digits` long.
pub(crate) fn totp_at(secret: &[u8], at: u64, digits: u32) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("any key length");
    mac.update(&(at / 30).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[19] & 0x0f) as usize;
    let n =
        u32::from_be_bytes([h[offset], h[offset + 1], h[offset + 2], h[offset + 3]]) & 0x7fff_ffff;
    format!("{:0width$}", n % 10u32.pow(digits), width = digits as usize)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until a fresh 30-second step has at least 10 seconds left, so a test's codes do not
/// straddle a step change it does not expect.
pub(crate) async fn early_in_a_step() -> u64 {
    while unix_now() % 30 > 20 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    unix_now()
}

#[test]
fn the_tests_totp_matches_the_rfc_6238_vectors() {
    let secret = b"12345678901234567890";
    assert_eq!(totp_at(secret, 59, 8), "94287082");
    assert_eq!(totp_at(secret, 1_111_111_109, 8), "07081804");
    assert_eq!(totp_at(secret, 20_000_000_000, 8), "65353130");
    assert_eq!(totp_at(secret, 59, 6), "287082");
    assert_eq!(base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), secret);
}

// ---------- helpers ----------

async fn send(
    c: &Client,
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Response {
    c.request(method, app.url(path))
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// [`send`], answering status and JSON body.
async fn call(
    c: &Client,
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    status_json(send(c, app, method, path, body).await).await
}

async fn status_json(r: Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Enrols the client's person: returns the raw secret; `confirm_at` is the time whose code
/// confirms it.
async fn enrol(app: &TestApp, c: &Client, confirm_at: u64) -> (Vec<u8>, Vec<String>) {
    enrol_at(&app.url(""), c, confirm_at).await
}

/// [`enrol`] on the Usher at `base` (its URL without a path).
pub(crate) async fn enrol_at(base: &str, c: &Client, confirm_at: u64) -> (Vec<u8>, Vec<String>) {
    let (s, body) = status_json(
        c.post(format!("{base}/api/v2/me/two-factor"))
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let secret_text = body["secret"].as_str().expect("secret").to_string();
    let uri = body["otpauth_uri"].as_str().expect("otpauth_uri");
    assert!(uri.starts_with("otpauth://totp/Usher:"), "{uri}");
    assert!(uri.contains(&format!("secret={secret_text}")), "{uri}");
    let svg = body["qr_svg"].as_str().expect("qr_svg");
    assert!(
        svg.contains("<svg") && svg.contains("<path") && !svg.contains("href"),
        "an inline SVG drawn by Usher"
    );
    let secret = base32_decode(&secret_text);
    assert_eq!(secret.len(), 20);
    let (s, body) = status_json(
        c.post(format!("{base}/api/v2/me/two-factor/confirm"))
            .json(&json!({"code": totp_at(&secret, confirm_at, 6)}))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn login_with(app: &TestApp, c: &Client, name: &str, code: Option<&str>) -> Response {
    let mut body = json!({"username": name, "password": PASSWORD});
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    send(c, app, reqwest::Method::POST, "/api/v2/login", body).await
}

/// The proxy-auth answer for the client's cookie.
async fn proxy_auth(app: &TestApp, c: &Client) -> (u16, Option<String>) {
    let r = c.get(app.url("/api/v2/auth/998")).send().await.unwrap();
    let user = r
        .headers()
        .get("x-organizr-user")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), user)
}

/// A code that is none of the valid ones around `at`.
fn wrong_code(secret: &[u8], at: u64) -> String {
    let valid: Vec<String> = (0..3)
        .map(|i| totp_at(secret, at + i * 30 - 30, 6))
        .collect();
    (0..)
        .map(|i| format!("{:06}", (123_456 + i * 7919) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap()
}

// ---------- tests ----------

#[tokio::test]
async fn enrol_confirm_sign_in_with_a_code_once_recovery_once_then_turn_off() {
    let app = TestApp::spawn().await;
    let me = app.signed_in("tess", 4).await;
    let t = early_in_a_step().await;
    // Confirmed with the previous step's code, so the current one is still unused.
    let (secret, recovery) = enrol(&app, &me, t - 30).await;
    // The secret is encrypted at rest, the recovery codes hashed.
    let pool = crate::api_login::db(&app).await;
    let stored: String = sqlx::query_scalar("SELECT secret FROM two_factor")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    let hashes: Vec<String> = sqlx::query_scalar("SELECT code_hash FROM two_factor_recovery")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 10);
    assert!(recovery
        .iter()
        .all(|c| !hashes.iter().any(|h| h.contains(&c.replace('-', "")))));

    // Without a code: 422, no session, no proxy-auth pass.
    let c = app.client();
    let r = login_with(&app, &c, "tess", None).await;
    assert!(set_cookies(&r).is_empty(), "{:?}", set_cookies(&r));
    let (s, body) = status_json(r).await;
    assert_eq!(s, 422, "{body}");
    assert_error(&body, "two_factor_required");
    assert_eq!(proxy_auth(&app, &c).await, (401, None));

    // With the current code: signed in, and proxy auth passes as tess.
    let code = totp_at(&secret, t, 6);
    let (s, body) = status_json(login_with(&app, &c, "tess", Some(&code)).await).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(proxy_auth(&app, &c).await, (200, Some("tess".into())));

    // The same code again (still inside its window) is refused; so is the confirming one.
    let other = app.client();
    for used in [code.clone(), totp_at(&secret, t - 30, 6)] {
        let r = login_with(&app, &other, "tess", Some(&used)).await;
        assert!(set_cookies(&r).is_empty());
        let (s, body) = status_json(r).await;
        assert_eq!(s, 401, "{body}");
        assert_error(&body, "wrong_two_factor_code");
    }

    // A recovery code works once (in any case, with or without its dash).
    let typed = recovery[3].to_uppercase();
    let (s, body) = status_json(login_with(&app, &app.client(), "tess", Some(&typed)).await).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) =
        status_json(login_with(&app, &app.client(), "tess", Some(&recovery[3])).await).await;
    assert_eq!(s, 401, "{body}");
    assert_error(&body, "wrong_two_factor_code");

    // Turning it off needs the password and a current code.
    let off = |password: &str, code: String| json!({"password": password, "code": code});
    let (s, body) = call(
        &me,
        &app,
        reqwest::Method::DELETE,
        "/api/v2/me/two-factor",
        off(PASSWORD, wrong_code(&secret, t)),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"]["fields"]["code"].is_string(), "{body}");
    let (s, body) = call(
        &me,
        &app,
        reqwest::Method::DELETE,
        "/api/v2/me/two-factor",
        off("not my password", totp_at(&secret, t + 30, 6)),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"]["fields"]["password"].is_string(), "{body}");
    let r = send(
        &me,
        &app,
        reqwest::Method::DELETE,
        "/api/v2/me/two-factor",
        off(PASSWORD, totp_at(&secret, t + 30, 6)),
    )
    .await;
    assert_eq!(r.status(), 204);
    let (s, body) = status_json(login_with(&app, &app.client(), "tess", None).await).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_wrong_passwords() {
    let app = TestApp::spawn().await;
    set_settings(&app, json!({"login.max_failures_per_user": 3})).await;
    let me = app.signed_in("walt", 4).await;
    let t = early_in_a_step().await;
    let (secret, _) = enrol(&app, &me, t - 30).await;
    for _ in 0..3 {
        let (s, body) = status_json(
            login_with(&app, &app.client(), "walt", Some(&wrong_code(&secret, t))).await,
        )
        .await;
        assert_eq!(s, 401, "{body}");
        assert_error(&body, "wrong_two_factor_code");
    }
    // Paused now, even with the right code.
    let r = login_with(&app, &app.client(), "walt", Some(&totp_at(&secret, t, 6))).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert!(set_cookies(&r).is_empty());
}

#[tokio::test]
async fn enrolment_needs_the_password_and_stays_pending_until_confirmed() {
    let app = TestApp::spawn().await;
    let me = app.signed_in("pia", 4).await;
    let (s, body) = call(
        &me,
        &app,
        reqwest::Method::POST,
        "/api/v2/me/two-factor",
        json!({"password": "wrong"}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"]["fields"]["password"].is_string(), "{body}");
    let (s, body) = call(
        &me,
        &app,
        reqwest::Method::POST,
        "/api/v2/me/two-factor",
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // Pending: sign-in does not ask for a code yet.
    let (s, body) = status_json(login_with(&app, &app.client(), "pia", None).await).await;
    assert_eq!(s, 200, "{body}");
    // A wrong confirmation names the field.
    let (s, body) = call(
        &me,
        &app,
        reqwest::Method::POST,
        "/api/v2/me/two-factor/confirm",
        json!({"code": "12345"}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"]["fields"]["code"].is_string(), "{body}");
    // Cross-site requests are refused like on every other state-changing route.
    let r = me
        .post(app.url("/api/v2/me/two-factor"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn an_administrator_resets_it_but_a_co_admin_not_the_admins() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("ada", 0).await;
    let co_admin = app.signed_in("cole", 1).await;
    let t = early_in_a_step().await;
    let (_, _) = enrol(&app, &admin, t - 30).await;
    let member = app.signed_in("mo", 4).await;
    let (_, _) = enrol(&app, &member, t - 30).await;
    let id_of = |name: &'static str| {
        let core = app.core.clone();
        async move {
            core.store
                .find_user_for_login(name)
                .await
                .unwrap()
                .expect("user")
                .0
                .id
        }
    };
    let (ada, mo) = (id_of("ada").await, id_of("mo").await);
    // A Co-Admin may reset a member's, not the Admin's.
    let r = send(
        &co_admin,
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v2/users/{ada}/two-factor"),
        json!({}),
    )
    .await;
    let (s, body) = status_json(r).await;
    assert_eq!(s, 403, "{body}");
    assert_error(&body, "forbidden");
    let (s, _) = status_json(login_with(&app, &app.client(), "ada", None).await).await;
    assert_eq!(s, 422);
    // The Users page offers the reset only where the viewer may use it.
    let users_page = co_admin
        .get(app.url("/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(users_page.contains(&format!("DELETE /api/v2/users/{mo}/two-factor")));
    assert!(!users_page.contains(&format!("DELETE /api/v2/users/{ada}/two-factor")));
    let r = co_admin
        .delete(app.url(&format!("/api/v2/users/{mo}/two-factor")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, body) = status_json(login_with(&app, &app.client(), "mo", None).await).await;
    assert_eq!(s, 200, "{body}");
    // A member may not reset anyone's.
    let r = member
        .delete(app.url(&format!("/api/v2/users/{ada}/two-factor")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let _ = admin;
}

#[tokio::test]
async fn a_required_group_is_sent_to_enrol_and_passes_no_proxy_auth_until_then() {
    let app = TestApp::spawn().await;
    set_settings(&app, json!({"two_factor.required_up_to_group": 1})).await;
    app.add_user("cora", 1).await;
    let c = app.client();
    let (s, body) = status_json(login_with(&app, &c, "cora", None).await).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["two_factor_setup_required"], true, "{body}");
    assert_eq!(body["redirect"], "/account#two-factor", "{body}");
    // Signed in to Usher, but no app lets her in; the portal sends her to her profile.
    assert_eq!(proxy_auth(&app, &c).await, (401, None));
    let r = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status().as_u16() / 100, 3);
    assert_eq!(r.headers()["location"], "/account#two-factor");
    let r = c.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("id=\"two-factor\""));
    // Once she has turned it on, the same session passes.
    let t = early_in_a_step().await;
    enrol(&app, &c, t).await;
    assert_eq!(proxy_auth(&app, &c).await, (200, Some("cora".into())));
    // A group above the limit is not held.
    let d = app.signed_in("dale", 4).await;
    assert_eq!(proxy_auth(&app, &d).await, (200, Some("dale".into())));
}

#[tokio::test]
async fn plex_sign_ins_can_skip_the_requirement() {
    let p = PlexApp::with(PlexSetup {
        auth_type: "backend",
        strict: false,
        oauth: true,
    })
    .await;
    p.set(json!({"two_factor.required_up_to_group": 998})).await;
    let c = p.app.client();
    let (s, body) = p.password_login(&c, "friendly", "hunter2").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["two_factor_setup_required"], true, "{body}");
    assert_eq!(proxy_auth(&p.app, &c).await.0, 401);
    // Plex has its own two-factor: with the skip on, the same session passes at once.
    p.set(json!({"two_factor.skip_for_plex": true})).await;
    assert_eq!(proxy_auth(&p.app, &c).await.0, 200);
    let (s, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["two_factor_setup_required"], false, "{body}");
}

#[tokio::test]
async fn in_the_browser_the_profile_turns_it_on_and_the_sign_in_page_asks_for_the_code() {
    use crate::support::browser::Browser;
    let app = TestApp::spawn().await;
    app.add_user("bea", 4).await;
    let browser = Browser::start().await;
    crate::ui_admin::sign_in(&browser, &app, "bea").await;
    browser.goto(&app.url("/account")).await;
    browser.fill("#tf-password", PASSWORD).await;
    browser.click("#tf-begin-submit").await;
    browser.wait_for_text("Scan this code").await;
    assert!(browser
        .find("#tf-qr svg")
        .await
        .is_displayed()
        .await
        .unwrap());
    let secret = base32_decode(&browser.find("#tf-secret").await.text().await.unwrap());
    let t = early_in_a_step().await;
    browser.fill("#tf-code", &totp_at(&secret, t - 30, 6)).await;
    browser.click("#tf-confirm-submit").await;
    browser.wait_for_text("Two-factor sign-in is on.").await;
    let codes = browser
        .client()
        .find_all(fantoccini::Locator::Css("#tf-codes li"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    browser.screenshot("two-factor-recovery-codes").await;

    // Signed out, the sign-in page asks for the code after the password, then lets her in.
    browser.client().delete_all_cookies().await.unwrap();
    browser.goto(&app.url("/login")).await;
    browser.fill("#username", "bea").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_text("Two-factor code").await;
    browser.screenshot("two-factor-sign-in").await;
    browser.fill("#password", PASSWORD).await;
    browser.fill("#code", &totp_at(&secret, t, 6)).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_url(|u| !u.contains("/login")).await;
    browser.wait_for_text("bea ▾").await;
    browser.close().await;
}

#[tokio::test]
async fn a_person_who_must_enrol_first_is_not_signed_in_to_the_apps() {
    use crate::support::fake_apps::jellyfin::{FakeJellyfin, JellyfinConfig};
    let jellyfin = FakeJellyfin::start(JellyfinConfig::with_users(&[
        ("cora", PASSWORD),
        ("dale", PASSWORD),
    ]))
    .await;
    let app = TestApp::spawn().await;
    set_settings(
        &app,
        json!({
            "two_factor.required_up_to_group": 1,
            "sso.jellyfin.enabled": true,
            "sso.jellyfin.url": jellyfin.base_url(),
        }),
    )
    .await;
    let signs_into_jellyfin = || {
        jellyfin
            .server
            .control
            .seen()
            .iter()
            .filter(|s| s.path == "/Users/AuthenticateByName")
            .count()
    };
    app.add_user("cora", 1).await;
    let (s, body) = status_json(login_with(&app, &app.client(), "cora", None).await).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(signs_into_jellyfin(), 0, "no SSO before two-factor is on");
    // The same sign-in by someone not held to it does sign into Jellyfin.
    app.signed_in("dale", 4).await;
    assert_eq!(signs_into_jellyfin(), 1);
}

#[tokio::test]
async fn a_linked_account_signing_in_with_plex_is_asked_for_the_code_unless_plex_skips_it() {
    let p = PlexApp::with(PlexSetup {
        auth_type: "backend",
        strict: false,
        oauth: true,
    })
    .await;
    // fran has an Usher password and the e-mail of the Plex account "friendly": linked.
    p.app
        .core
        .create_user(
            usher::auth::accounts::CreateUser {
                username: "fran".into(),
                email: Some("friend@example.com".into()),
                password: Some(PASSWORD.into()),
                group_id: Some(4),
                reuse_retired_name: false,
            },
            &usher::auth::accounts::Acting::cli(),
        )
        .await
        .unwrap();
    let c = p.app.client();
    let (s, body) = p.password_login(&c, "friendly", "hunter2").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["user"]["username"], "fran", "{body}");
    enrol_at(&p.app.url(""), &c, early_in_a_step().await).await;

    let other = p.app.client();
    let r = p
        .login(
            &other,
            json!({"username": "friendly", "password": "hunter2"}),
        )
        .await;
    assert!(set_cookies(&r).is_empty());
    let (s, body) = status_json(r).await;
    assert_eq!(s, 422, "{body}");
    assert_error(&body, "two_factor_required");
    assert_eq!(proxy_auth(&p.app, &other).await, (401, None));
    // "Sign in with Plex" cannot ask for a code: refused, saying what to do instead.
    let (s, body) = p.oauth_as(&other, FRIEND_A).await;
    assert_eq!(s, 403, "{body}");
    assert_error(&body, "plex_not_allowed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("two-factor"),
        "{body}"
    );
    assert_eq!(proxy_auth(&p.app, &other).await, (401, None));

    p.set(json!({"two_factor.skip_for_plex": true})).await;
    let (s, body) = p.oauth_as(&p.app.client(), FRIEND_A).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = p.password_login(&other, "friendly", "hunter2").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(proxy_auth(&p.app, &other).await, (200, Some("fran".into())));
}
