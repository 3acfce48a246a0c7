//! A tiny upstream that answers every method and path with what it received, so tests can
//! assert which headers a proxy forwarded (e.g. `x-webauth-user`).
//!
//! Body: `{"method":"GET","path":"/app/x","query":"a=1","headers":{"x-webauth-user":"alice"}}`;
//! `query` is null when absent, a header seen more than once is an array of its values.
//!
//! A path ending in `/redirect` is answered like an app sending someone to its sign-in page
//! (Tautulli's CherryPy does this): a 302 whose Location is built from the Host header it got,
//! `http://HOST/PREFIX/auth/login` — so a proxy that drops the port shows in the redirect.
#![allow(dead_code)] // each test binary uses a different part of the support code

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{Map, Value};
use tokio::task::JoinHandle;

/// Starts the echo server on 127.0.0.1:0; it runs until the handle is aborted or the runtime ends.
pub async fn spawn_echo() -> (SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind echo server");
    let addr = listener.local_addr().expect("echo server address");
    let app = Router::new().fallback(echo);
    let handle = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("echo server");
    });
    (addr, handle)
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let body = Json(serde_json::json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "headers": headers_json(&headers),
    }));
    match uri.path().strip_suffix("/redirect") {
        Some(prefix) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let location = format!("http://{host}{prefix}/auth/login");
            (StatusCode::FOUND, [(header::LOCATION, location)], body).into_response()
        }
        None => body.into_response(),
    }
}

/// Header names are already lowercase in `HeaderMap`; non-UTF-8 values are converted lossily.
fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for name in headers.keys() {
        let mut values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = if values.len() == 1 {
            values.remove(0)
        } else {
            Value::Array(values)
        };
        map.insert(name.as_str().to_owned(), value);
    }
    Value::Object(map)
}
