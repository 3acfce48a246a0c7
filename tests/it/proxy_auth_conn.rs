//! The connection loop (`usher::http::proxy_auth_conn`) answers plain proxy-auth requests from
//! the raw bytes and hands everything else to hyper. Spoken to here over a raw socket, byte for
//! byte as nginx or a client may send it: HTTP/1.0 and 1.1, `close` and `keep-alive`, requests
//! in pieces, pipelined, with a body, oversized, malformed, and at shutdown. Every answer must
//! be the router's (status and headers), framed as hyper frames it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

use crate::support::TestApp;

/// One parsed answer: status, headers (lower-case names, in order) and body.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Status and the headers that say something about the answer, sorted (not the date, not
    /// the framing): what the router's answer is compared on.
    fn meaning(&self) -> String {
        let mut lines: Vec<String> = self
            .headers
            .iter()
            .filter(|(n, _)| !matches!(n.as_str(), "date" | "content-length" | "connection"))
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        lines.sort();
        format!("{}\n{}", self.status, lines.join("\n"))
    }
}

/// Splits what a server sent into answers (bodies framed by content-length, as all of Usher's
/// answers here are). `head_only` for answers to HEAD.
fn answers(mut bytes: &[u8], head_only: &[bool]) -> Vec<Answer> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(n) = res.parse(bytes).expect("a well-formed answer") else {
            panic!("an answer cut short: {:?}", String::from_utf8_lossy(bytes));
        };
        let headers: Vec<(String, String)> = res
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let length: usize = if head_only.get(out.len()).copied().unwrap_or(false) {
            0
        } else {
            headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map(|(_, v)| v.parse().unwrap())
                .expect("every answer here says its length")
        };
        let status = res.code.unwrap();
        out.push(Answer {
            status,
            headers,
            body: bytes[n..n + length].to_vec(),
        });
        bytes = &bytes[n + length..];
    }
    out
}

/// Sends `pieces` (pausing between them) and reads until the server closes.
async fn exchange(app: &TestApp, pieces: &[&[u8]]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        tcp.write_all(piece).await.unwrap();
    }
    read_to_close(&mut tcp).await
}

async fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut got))
        .await
        .expect("the server closes the connection")
        .unwrap();
    got
}

/// The router's answer to the same request (method, path, headers), for comparison.
async fn routed(app: &TestApp, method: &str, path: &str, headers: &[(&str, String)]) -> Answer {
    let router = usher::http::router::router(app.core.clone());
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    for (name, value) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let res = router.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_string()))
        .collect();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// Usher with alice (group 4) signed in: the app and her `Cookie` header value.
async fn alice_signed_in() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.add_user("alice", 4).await;
    let cookie = app.session_cookie("alice").await;
    (app, cookie)
}

fn request(method: &str, path: &str, version: &str, headers: &[(&str, String)]) -> Vec<u8> {
    let mut s = format!("{method} {path} HTTP/{version}\r\nHost: usher.test\r\n");
    for (name, value) in headers {
        s.push_str(&format!("{name}: {value}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

#[tokio::test]
async fn every_version_and_connection_mode_gets_the_routers_answer_framed_as_hyper_frames_it() {
    let (app, cookie) = alice_signed_in().await;
    let forwarded = [
        ("X-Forwarded-Method", "GET".to_string()),
        ("X-Forwarded-Proto", "https".to_string()),
        ("X-Forwarded-Host", "app.example.com".to_string()),
        ("X-Forwarded-Uri", "/page".to_string()),
        ("Accept", "text/html".to_string()),
    ];

    for path in ["/api/v2/auth/4", "/api/v2/auth/0", "/api/v2/auth?group=999"] {
        for with_cookie in [false, true] {
            let mut headers: Vec<(&str, String)> = forwarded.to_vec();
            if with_cookie {
                headers.push(("Cookie", cookie.clone()));
            }
            let expected = routed(&app, "GET", path, &headers).await.meaning();
            let case = format!("{path} cookie={with_cookie}");

            // HTTP/1.1, close: `connection: close`, then the server closes.
            let mut h = headers.clone();
            h.push(("Connection", "close".into()));
            let got = answers(
                &exchange(&app, &[&request("GET", path, "1.1", &h)]).await,
                &[],
            );
            assert_eq!(got.len(), 1, "{case}");
            assert_eq!(got[0].meaning(), expected, "{case} 1.1 close");
            assert_eq!(got[0].header("connection"), Some("close"), "{case}");
            assert_eq!(got[0].header("content-length"), Some("0"), "{case}");
            assert!(got[0].header("date").is_some(), "{case}");

            // HTTP/1.0 (nginx's default towards an upstream): answered as 1.0, then closed.
            let raw = exchange(&app, &[&request("GET", path, "1.0", &headers)]).await;
            assert!(raw.starts_with(b"HTTP/1.0 "), "{case}");
            let got = answers(&raw, &[]);
            assert_eq!(got.len(), 1, "{case}");
            assert_eq!(got[0].meaning(), expected, "{case} 1.0");

            // HEAD: the same head, no body.
            let mut h = headers.clone();
            h.push(("Connection", "close".into()));
            let got = answers(
                &exchange(&app, &[&request("HEAD", path, "1.1", &h)]).await,
                &[true],
            );
            assert_eq!(got[0].meaning(), expected, "{case} HEAD");
            assert!(got[0].body.is_empty());
            // As hyper: no length for HEAD (it would have to be the GET's), found by the
            // proxy_auth_conn fuzz target.
            assert_eq!(got[0].header("content-length"), None, "{case} HEAD");
        }
    }

    // HTTP/1.0 keep-alive (hyper's: see KEEP_ALIVE in src/http/proxy_auth_conn.rs):
    // `connection: keep-alive`, and the connection takes a second request.
    let headers = vec![("Cookie", cookie.clone())];
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    let mut h = headers.clone();
    h.push(("Connection", "keep-alive".into()));
    tcp.write_all(&request("GET", "/api/v2/auth/4", "1.0", &h))
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut first))
        .await
        .unwrap()
        .unwrap();
    let got = answers(&first[..n], &[]);
    assert_eq!(got[0].status, 200);
    assert_eq!(got[0].header("connection"), Some("keep-alive"));
    assert_eq!(got[0].header("x-organizr-user"), Some("alice"));
    tcp.write_all(&request("GET", "/api/v2/auth/0", "1.0", &headers))
        .await
        .unwrap();
    let got = answers(&read_to_close(&mut tcp).await, &[]);
    assert_eq!(got[0].status, 401, "alice is not an admin");
    app.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_the_rest_goes_through_hyper() {
    let (app, cookie) = alice_signed_in().await;
    let c = vec![("Cookie", cookie.clone())];
    let mut last = c.clone();
    last.push(("Connection", "close".into()));
    // A proxy check, a page the router serves, then proxy checks again on the same connection
    // (hyper's now), all in one write.
    let mut all = request("GET", "/api/v2/auth/4", "1.1", &c);
    all.extend(request("GET", "/healthz", "1.1", &[]));
    all.extend(request("GET", "/api/v2/auth/0", "1.1", &c));
    all.extend(request("GET", "/api/v2/auth/4", "1.1", &last));
    let got = answers(&exchange(&app, &[&all]).await, &[]);
    let statuses: Vec<u16> = got.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200, 401, 200]);
    assert_eq!(got[0].header("x-organizr-user"), Some("alice"));
    assert_eq!(
        got[1].meaning(),
        routed(&app, "GET", "/healthz", &[]).await.meaning()
    );
    assert_eq!(got[3].header("x-organizr-user"), Some("alice"));
    app.stop().await;
}

#[tokio::test]
async fn a_request_in_pieces_is_answered_once_whole() {
    let (app, cookie) = alice_signed_in().await;
    let raw = request(
        "GET",
        "/api/v2/auth/4",
        "1.1",
        &[("Cookie", cookie), ("Connection", "close".into())],
    );
    let (a, rest) = raw.split_at(7);
    let (b, c) = rest.split_at(rest.len() - 3);
    let got = answers(&exchange(&app, &[a, b, c]).await, &[]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].status, 200);
    assert_eq!(got[0].header("x-organizr-user"), Some("alice"));
    app.stop().await;
}

#[tokio::test]
async fn a_body_an_oversized_head_or_a_malformed_one_goes_to_hyper_and_is_answered_as_before() {
    let (app, cookie) = alice_signed_in().await;

    // A body on a proxy check: hyper reads it, so it is never taken for the next request.
    let body = "GET /api/v2/auth/0 HTTP/1.1\r\n\r\n";
    let mut raw = format!(
        "POST /api/v2/auth/4 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    raw.extend(request(
        "GET",
        "/api/v2/auth/4",
        "1.1",
        &[("Cookie", cookie.clone()), ("Connection", "close".into())],
    ));
    let got = answers(&exchange(&app, &[&raw]).await, &[]);
    assert_eq!(got.len(), 2, "the body was not a request");
    assert_eq!(
        got[0].meaning(),
        routed(&app, "POST", "/api/v2/auth/4", &[]).await.meaning()
    );
    assert_eq!(got[1].header("x-organizr-user"), Some("alice"));

    // A head larger than the loop takes (32 KiB): hyper answers it, the same way.
    let filler = "a".repeat(40 * 1024);
    let headers = vec![
        ("X-Filler", filler),
        ("Cookie", cookie.clone()),
        ("Connection", "close".into()),
    ];
    let got = answers(
        &exchange(&app, &[&request("GET", "/api/v2/auth/4", "1.1", &headers)]).await,
        &[],
    );
    assert_eq!(got[0].status, 200);
    assert_eq!(got[0].header("x-organizr-user"), Some("alice"));

    // Characters the loop leaves to hyper's URL parser, which refuses a `"` as it always did.
    let got = answers(
        &exchange(
            &app,
            &[b"GET /api/v2/auth/4?x=\"y\" HTTP/1.1\r\nConnection: close\r\n\r\n"],
        )
        .await,
        &[],
    );
    assert_eq!(got[0].status, 400);

    // A malformed head: hyper's 400, as before.
    let raw = exchange(
        &app,
        &[b"GET /api/v2/auth/4 HTTP/1.1\r\nNot a header\r\n\r\n"],
    )
    .await;
    assert!(
        raw.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    app.stop().await;
}

#[tokio::test]
async fn at_shutdown_an_idle_connection_closes_and_a_request_under_way_is_answered() {
    let (app, cookie) = alice_signed_in().await;
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    // Make sure the idle connection has been accepted before the shutdown starts.
    idle.write_all(&request("GET", "/api/v2/auth/4", "1.1", &[]))
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 401 "));

    let mut busy = TcpStream::connect(app.addr).await.unwrap();
    let raw = request("GET", "/api/v2/auth/4", "1.1", &[("Cookie", cookie)]);
    let (first, rest) = raw.split_at(20);
    busy.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stopping = tokio::spawn(app.stop());
    // The idle one is closed without an answer.
    assert!(read_to_close(&mut idle).await.is_empty());
    // The one under way gets its answer, then the server closes it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !stopping.is_finished(),
        "the server waits for the request under way"
    );
    busy.write_all(rest).await.unwrap();
    let got = answers(&read_to_close(&mut busy).await, &[]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].status, 200);
    assert_eq!(got[0].header("x-organizr-user"), Some("alice"));
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server stops once the last connection is done")
        .unwrap();
}

/// What nginx really sends for the config `usher proxy-config nginx` prints: its auth
/// subrequest, recorded byte for byte by a listener standing in for Usher. nginx's default
/// towards an upstream is HTTP/1.0 with `Connection: close`, a new connection for every
/// protected request, so every one of them must take the short way, and be answered there
/// exactly as the router answers it.
#[tokio::test]
async fn the_auth_subrequest_nginx_sends_for_the_generated_config_takes_the_short_way() {
    use crate::proxy_config::subdirectory_snippet;
    use crate::support::nginx::Nginx;

    let (app, cookie) = alice_signed_in().await;

    // Stands in for Usher: keeps the first request head, refuses it, closes.
    let recorder = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recorder_addr = recorder.local_addr().unwrap();
    let recorded = tokio::spawn(async move {
        let (mut tcp, _) = recorder.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "nginx closed before its request was whole");
            head.extend_from_slice(&buf[..n]);
        }
        let _ = tcp
            .write_all(
                b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await;
        head
    });
    let snippet = subdirectory_snippet(
        "nginx",
        recorder_addr,
        &["tautulli,upstream=http://127.0.0.1:9".to_string()],
        &[],
    );
    let nginx = Nginx::start(&format!(
        "server {{\n    listen 127.0.0.1:{{{{PORT}}}};\n{snippet}}}\n"
    ))
    .await;
    let page = reqwest::Client::new()
        .get(nginx.url("/tautulli/"))
        .header("Cookie", &cookie)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 401, "the stand-in refused");
    let head = tokio::time::timeout(Duration::from_secs(10), recorded)
        .await
        .expect("nginx asked the stand-in")
        .unwrap();
    let text = String::from_utf8_lossy(&head).into_owned();
    assert!(
        text.starts_with("GET /api/v2/auth/4 HTTP/1.0\r\n"),
        "nginx's subrequest: {text}"
    );
    assert!(
        text.contains("\r\nX-Forwarded-Uri: /tautulli/\r\n"),
        "{text}"
    );
    assert!(
        usher::http::proxy_auth_conn::answers_itself(&head),
        "the loop hands nginx's subrequest to hyper: {text}"
    );

    // The same bytes to Usher: the router's answer, as HTTP/1.0, then the connection closes.
    let mut parsed = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut parsed);
    req.parse(&head).unwrap();
    let headers: Vec<(&str, String)> = req
        .headers
        .iter()
        .map(|h| (h.name, String::from_utf8_lossy(h.value).into_owned()))
        .collect();
    let expected = routed(&app, "GET", req.path.unwrap(), &headers).await;
    assert_eq!(expected.status, 200);
    let raw = exchange(&app, &[&head]).await;
    assert!(raw.starts_with(b"HTTP/1.0 200 OK\r\n"), "{raw:?}");
    let got = answers(&raw, &[]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].meaning(), expected.meaning());
    assert_eq!(got[0].header("x-organizr-user"), Some("alice"));
    app.stop().await;
}
