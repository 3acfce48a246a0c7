//! The server answers proxy-auth addresses without the router (`usher::http::serve`): every
//! answer must be the one the router's own routes give, and every other address must still
//! reach the router.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use tower::ServiceExt;

use crate::support::TestApp;

/// Addresses around the proxy-auth routes: the short way takes some, the router the rest.
const PATHS: &[&str] = &[
    "/api",
    "/api/",
    "/api/?v1/auth&group=4",
    "/api/?v2/auth&group=4",
    "/api/v2/auth",
    "/api/v2/auth/",
    "/api/v2/auth/0",
    "/api/v2/auth/4",
    "/api/v2/auth//4",
    "/api/v2/auth/4/whitelist/127.0.0.1",
    "/api/v2/auth?group=4",
    "/api/v2/auth-4",
    "/api/v2/auth-",
    "/api/v2/authx",
    "/api/v2/auth%2F4",
    "/api/v2/organizr-auth/4",
    "/api/v2/organizr-auth-4",
    "/api/v2/organizr-authx",
    "/API/v2/auth/4",
    "/apix",
    "/api/v2/me",
    "/metrics",
    "/healthz",
    "/nowhere",
];

/// Headers that say something about the answer (not the date, not how it was framed).
fn answer_of(status: u16, headers: &http::HeaderMap, body: &[u8]) -> String {
    let mut lines: Vec<String> = headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "content-length" | "connection"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
        .collect();
    lines.sort();
    format!(
        "{status}\n{}\n{}",
        lines.join("\n"),
        String::from_utf8_lossy(body)
    )
}

#[tokio::test]
async fn the_short_way_answers_every_address_like_the_router() {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = app.session_cookie("alice").await;
    let router = usher::http::router::router(app.core.clone());
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let forwarded = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example.com"),
        ("x-forwarded-uri", "/page"),
        ("accept", "text/html"),
    ];

    let mut short_way = 0;
    for path in PATHS {
        for with_cookie in [false, true] {
            for with_forwarded in [false, true] {
                let mut headers = http::HeaderMap::new();
                if with_cookie {
                    headers.insert("cookie", cookie.parse().unwrap());
                }
                if with_forwarded {
                    for (name, value) in forwarded {
                        headers.insert(name, value.parse().unwrap());
                    }
                }
                let served = plain
                    .get(app.url(path))
                    .headers(headers.clone())
                    .send()
                    .await
                    .unwrap();
                let served = answer_of(
                    served.status().as_u16(),
                    &served.headers().clone(),
                    &served.bytes().await.unwrap(),
                );

                let mut req = http::Request::get(*path).body(Body::empty()).unwrap();
                *req.headers_mut() = headers;
                req.extensions_mut().insert(ConnectInfo(peer));
                let routed = router.clone().oneshot(req).await.unwrap();
                let status = routed.status().as_u16();
                let routed_headers = routed.headers().clone();
                let body = axum::body::to_bytes(routed.into_body(), 1 << 20)
                    .await
                    .unwrap();
                let routed = answer_of(status, &routed_headers, &body);

                assert_eq!(
                    served, routed,
                    "{path} (cookie: {with_cookie}, forwarded: {with_forwarded})"
                );
                if usher::http::serve::is_proxy_auth_path(path.split('?').next().unwrap()) {
                    short_way += 1;
                }
            }
        }
    }
    // Most of the list goes the short way; a passing signed-in answer is among them.
    assert_eq!(short_way, 14 * 4);
    app.stop().await;
}
