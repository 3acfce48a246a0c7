//! The server-rendered pages over real HTTP: sign-in without JavaScript, the redirect checks
//! behind `?rd=`/`?return=`, the home page, first-run setup, and the security headers.

use reqwest::{Client, Response};
use serde_json::json;

use crate::api_login::{attr, bare, cookie_named, cookie_value, set_cookies, set_settings};
use crate::support::{TestApp, PASSWORD};

fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on a {}", r.status()))
        .to_str()
        .unwrap()
        .to_string()
}

/// Where GET /login offers to send a signed-in person who asks for `rd` (or `return`): the
/// page shows who is signed in and a Continue link (a redirect could loop with forward auth).
async fn redirect_for(app: &TestApp, client: &Client, param: &str, target: &str) -> String {
    let r = client
        .get(app.url("/login"))
        .query(&[(param, target)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{param}={target}");
    continue_link(&r.text().await.unwrap())
}

/// The href of the "Continue" link on a message page, unescaped.
fn continue_link(html: &str) -> String {
    assert!(html.contains("Already signed in"), "{html}");
    let start = html.find("<a href=\"").expect("a Continue link") + 9;
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
}

async fn form_login(app: &TestApp, client: &Client, fields: &[(&str, &str)]) -> Response {
    client
        .post(app.url("/login"))
        .form(fields)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_login_page_is_a_plain_form_that_keeps_rd() {
    let app = TestApp::spawn().await;
    let r = app
        .client()
        .get(app.url("/login?rd=/tautulli/home"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/login">"#),
        "{html}"
    );
    assert!(html.contains(r#"name="username""#));
    assert!(html.contains(r#"name="password" type="password""#));
    assert!(html.contains(r#"name="remember""#));
    assert!(
        html.contains(r#"<input type="hidden" name="rd" value="/tautulli/home">"#),
        "{html}"
    );
    assert!(!html.contains("<script"), "works without JavaScript");

    // Organizr's ?return= fills the same field.
    let html = app
        .client()
        .get(app.url("/login?return=/sonarr/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"name="rd" value="/sonarr/""#), "{html}");

    // Whatever is in rd is escaped, never markup.
    let html = app
        .client()
        .get(app.url("/login"))
        .query(&[("rd", "\"><script>alert(1)</script>")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
}

#[tokio::test]
async fn form_login_redirects_to_rd_and_sets_the_cookie() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let c = app.client();
    let r = form_login(
        &app,
        &c,
        &[
            ("username", "Alice"),
            ("password", PASSWORD),
            ("rd", "/tautulli/home?x=1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/tautulli/home?x=1");
    let sc = cookie_named(&r, "usher_session");
    assert_eq!(cookie_value(&sc).len(), 43);
    assert_eq!(attr(&sc, "HttpOnly").as_deref(), Some(""));
    assert_eq!(attr(&sc, "SameSite").as_deref(), Some("Lax"));
    assert_eq!(attr(&sc, "Max-Age").as_deref(), Some("86400"));
    assert_eq!(app.get_json(&c, "/api/v2/me").await.0, 200);

    // "Remember me" ticked.
    let r = form_login(
        &app,
        &app.client(),
        &[
            ("username", "alice"),
            ("password", PASSWORD),
            ("remember", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    assert_eq!(
        attr(&cookie_named(&r, "usher_session"), "Max-Age").as_deref(),
        Some("604800")
    );
}

#[tokio::test]
async fn a_failed_form_login_shows_the_message_and_keeps_the_username() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let r = form_login(
        &app,
        &app.client(),
        &[
            ("username", "alice"),
            ("password", "wrong wrong"),
            ("rd", "/radarr/"),
        ],
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(set_cookies(&r).is_empty());
    let html = r.text().await.unwrap();
    assert!(html.contains("Wrong username or password."), "{html}");
    assert!(html.contains(r#"value="alice""#), "{html}");
    assert!(html.contains(r#"name="rd" value="/radarr/""#), "{html}");

    // A typed username is shown back escaped.
    let r = form_login(
        &app,
        &app.client(),
        &[("username", "<b>bob</b>\""), ("password", "whatever1")],
    )
    .await;
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("value=\"&lt;b&gt;bob&lt;/b&gt;&quot;\""),
        "{html}"
    );

    // Empty fields and unreadable forms are 400 pages, not crashes.
    let r = form_login(&app, &app.client(), &[("username", "alice")]).await;
    assert_eq!(r.status(), 400);
    let r = app
        .client()
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("could not be read"));

    // Locked and throttled show up on the page too.
    set_settings(&app, json!({"login.max_failures_per_user": 2})).await;
    form_login(
        &app,
        &app.client(),
        &[("username", "alice"), ("password", "bad bad 2")],
    )
    .await;
    let r = form_login(
        &app,
        &app.client(),
        &[("username", "alice"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));
}

#[tokio::test]
async fn redirect_tricks_go_to_the_root() {
    let app = TestApp::spawn().await;
    // Signed in first: the jar would refuse a Domain=example.com cookie from 127.0.0.1.
    let c = app.signed_in("alice", 4).await;
    set_settings(
        &app,
        json!({"cookie_domain": "example.com", "allowed_redirect_hosts": ["media.home.lan"]}),
    )
    .await;
    let tricks = [
        "https://evil.com/",
        "http://evil.com",
        "//evil.com",
        "//evil.com/path",
        "/\\evil.com",
        "\\\\evil.com",
        "/\t/evil.com",
        "/\n/evil.com",
        " /\\evil.com",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://example.com.evil.com/",
        "https://evilexample.com/",
        "https://user@evil.com",
        "https://sonarr.example.com@evil.com/",
        "https://user:pw@sonarr.example.com/",
        "https://evil.com/?u=https://good.example.com",
        "https://evil.com/#https://sonarr.example.com",
        "evil.com",
        "ftp://sonarr.example.com/",
    ];
    for trick in tricks {
        for param in ["rd", "return"] {
            assert_eq!(
                redirect_for(&app, &c, param, trick).await,
                "/",
                "{param}={trick:?}"
            );
        }
    }
    // The decoded-tab form exactly as a browser would send it.
    for raw in ["/login?rd=/%09/evil.com", "/login?rd=%2F%2Fevil.com"] {
        let html = c.get(app.url(raw)).send().await.unwrap().text().await;
        assert_eq!(continue_link(&html.unwrap()), "/", "{raw}");
    }

    let own = format!("http://{}/admin", app.addr);
    let honoured = [
        "/",
        "/tautulli/home?x=1",
        "https://sonarr.example.com/calendar",
        "https://example.com/",
        "http://media.home.lan:8080/x",
        own.as_str(),
    ];
    for target in honoured {
        for param in ["rd", "return"] {
            assert_eq!(
                redirect_for(&app, &c, param, target).await,
                target,
                "{param}={target}"
            );
        }
    }
    // Signed in without rd: home, and the page says who is signed in.
    let html = c.get(app.url("/login")).send().await.unwrap().text().await;
    let html = html.unwrap();
    assert!(
        html.contains("You are signed in as alice (User)."),
        "{html}"
    );
    assert_eq!(continue_link(&html), "/");

    // The form login and the JSON login apply the same check.
    for (rd, expected) in [
        ("https://evil.com/", "/"),
        ("//evil.com", "/"),
        (
            "https://sonarr.example.com/x",
            "https://sonarr.example.com/x",
        ),
        ("/ombi/", "/ombi/"),
    ] {
        let r = form_login(
            &app,
            &app.client(),
            &[("username", "alice"), ("password", PASSWORD), ("rd", rd)],
        )
        .await;
        assert_eq!(r.status(), 303);
        if expected.starts_with('/') {
            assert_eq!(location(&r), expected, "form rd={rd}");
        } else {
            // Another host: by Usher's hand-over page, as CSP form-action 'self' stops a
            // browser from following the form's redirect there (the page, for the
            // signed-in `c`: the jar keeps no Domain=example.com cookie from 127.0.0.1).
            let handoff = location(&r);
            assert!(
                handoff.starts_with("/sso/handoff?rd="),
                "form rd={rd}: {handoff}"
            );
            let html = app.get_text(&c, &handoff).await;
            assert!(
                html.contains(&format!(r#"data-next="{expected}""#)),
                "form rd={rd}: {html}"
            );
        }
        for key in ["rd", "return"] {
            let r = app
                .client()
                .post(app.url("/api/v2/login"))
                .json(&json!({"username": "alice", "password": PASSWORD, key: rd}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["redirect"], expected, "json {key}={rd}");
        }
    }
}

#[tokio::test]
async fn home_shows_who_is_signed_in_or_sends_to_login() {
    let app = TestApp::spawn().await;
    // No admin yet: a hint about the setup link instead of a sign-in form.
    let r = app.client().get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("first administrator"), "{html}");
    assert!(html.contains("setup-token"), "{html}");

    app.add_user("root", 0).await;
    let r = app.client().get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");

    let c = app.signed_in("Zoë <3", 3).await;
    let r = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<strong id="who">Zoë &lt;3</strong>"#),
        "{html}"
    );
    assert!(html.contains("Power User"), "{html}");
    assert!(html.contains(r#"action="/logout""#));
    let (_, html, _) = crate::ui_pages::get(&c, &app, "/account").await;
    assert!(html.contains("this device"), "{html}");

    // The page's sign-out button.
    let token = c.get(app.url("/api/v2/me")).send().await.unwrap().status();
    assert_eq!(token, 200);
    let r = c.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");
    assert_eq!(
        attr(&cookie_named(&r, "usher_session"), "Max-Age").as_deref(),
        Some("0")
    );
    assert_eq!(app.get_json(&c, "/api/v2/me").await.0, 401);
    let r = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(location(&r), "/login");
}

#[tokio::test]
async fn setup_needs_the_token_and_works_once() {
    let app = TestApp::spawn().await;
    let token_file = app.data_dir.path().join("setup-token");
    let token = std::fs::read_to_string(&token_file)
        .expect("setup-token written at start")
        .trim()
        .to_string();
    assert!(token.len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let anon = app.client();
    for path in [
        "/setup".to_string(),
        "/setup?token=".to_string(),
        "/setup?token=wrong".to_string(),
        format!("/setup?token={}x", token),
        format!("/setup?token={}", &token[..token.len() - 1]),
    ] {
        let r = anon.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
        assert!(!r.text().await.unwrap().contains("name=\"token\""));
    }
    let r = anon
        .get(app.url(&format!("/setup?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/setup">"#),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"name="token" value="{token}""#)),
        "{html}"
    );

    // A wrong token in the form, then a too-short password: refused, nothing created.
    let r = anon
        .post(app.url("/setup"))
        .form(&[
            ("token", "wrong"),
            ("username", "boss"),
            ("email", "boss@example.com"),
            ("password", "long enough 1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = anon
        .post(app.url("/setup"))
        .form(&[
            ("token", token.as_str()),
            ("username", "boss"),
            ("email", "boss@example.com"),
            ("password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("Password: must be at least"), "{html}");
    assert!(html.contains(r#"value="boss""#), "username kept: {html}");
    assert!(app.core.store.list_users().await.unwrap().is_empty());
    assert!(token_file.exists());

    // The real thing: a group-0 user, signed in, token retired.
    let browser = app.client();
    let form = [
        ("token", token.as_str()),
        ("username", "boss"),
        ("email", "boss@example.com"),
        ("password", "long enough 1"),
    ];
    let r = browser
        .post(app.url("/setup"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    let sc = cookie_named(&r, "usher_session");
    assert_eq!(attr(&sc, "HttpOnly").as_deref(), Some(""));
    let boss = app.core.user_by_name("boss").await.unwrap();
    assert_eq!(boss.group_id, 0);
    assert_eq!(boss.email.as_deref(), Some("boss@example.com"));
    assert!(!token_file.exists(), "setup-token removed");
    let (status, me) = app.get_json(&browser, "/api/v2/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["username"], "boss");
    assert_eq!(me["is_admin"], true);
    assert_eq!(me["sessions"][0]["method"], "setup");

    // The same link again: refused, nobody else created.
    let again = [
        ("token", token.as_str()),
        ("username", "second"),
        ("email", "second@example.com"),
        ("password", "long enough 2"),
    ];
    let r = app
        .client()
        .post(app.url("/setup"))
        .form(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(set_cookies(&r).is_empty());
    assert_eq!(app.core.store.list_users().await.unwrap().len(), 1);
    // And the page is gone for good.
    for path in ["/setup".to_string(), format!("/setup?token={token}")] {
        let r = app.client().get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    assert!(!token_file.exists(), "no new token once an admin exists");
}

#[tokio::test]
async fn pages_carry_security_headers_and_proxy_auth_does_not() {
    let app = TestApp::spawn().await;
    let c = app.signed_in("alice", 4).await;
    app.add_user("root", 0).await;
    for path in ["/login", "/", "/setup", "/assets/usher.css"] {
        let r = app.client().get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("no CSP on {path}"))
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "SAMEORIGIN", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
    // The JSON API: nosniff and no caching.
    let r = c.get(app.url("/api/v2/me")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["cache-control"], "no-store");
    // The proxy-auth hot path carries none of it, whatever the answer.
    for (client, path) in [
        (&c, "/api/v2/auth/4"),
        (&c, "/api/v2/auth/0"),
        (&bare(), "/api/v2/auth/4"),
        (&c, "/api/v2/auth-4"),
        (&c, "/api/v2/organizr-auth/4"),
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        for h in [
            "content-security-policy",
            "x-frame-options",
            "x-content-type-options",
            "referrer-policy",
            "cache-control",
            "set-cookie",
        ] {
            assert!(r.headers().get(h).is_none(), "{h} on {path}");
        }
    }
    // Unknown pages are plain 404s.
    let r = app.client().get(app.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}
