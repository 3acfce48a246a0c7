//! A fake upstream (plex.tv, an SSO app) on 127.0.0.1:0 that answers each request with the next
//! HTTP answer written in the fuzz input, so the real clients (reqwest, status handling, headers,
//! body parsing) read it exactly as they would read a real server's answer.
//!
//! An answer is a status line (`200`), header lines (`name: value`), a blank line and the body;
//! answers are separated by a line `====`. Framing headers are left to the server: a lie in
//! `Content-Length` would only test hyper.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::Router;
use http::{HeaderName, HeaderValue, StatusCode};

type Queue = Arc<Mutex<VecDeque<Response>>>;

/// The fake server and the runtime it runs on (one per AFL child).
pub struct Fake {
    rt: tokio::runtime::Runtime,
    /// `http://127.0.0.1:PORT/`
    pub base: String,
    queue: Queue,
}

impl Fake {
    /// Binds 127.0.0.1:0 and serves in the background of its runtime.
    pub fn start() -> Fake {
        let rt = crate::runtime();
        let queue = Queue::default();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let base = format!("http://{}/", listener.local_addr().expect("bound"));
        let app = Router::new()
            .fallback(next_answer)
            .with_state(queue.clone());
        rt.spawn(async move { axum::serve(listener, app).await });
        Fake { rt, base, queue }
    }

    /// Runs `call` while the server answers with the answers written in `data`.
    pub fn run<F: Future>(&self, data: &[u8], call: F) -> F::Output {
        *self.queue.lock().expect("queue") = answers(data).collect();
        self.rt.block_on(call)
    }
}

async fn next_answer(State(queue): State<Queue>) -> Response {
    let next = queue.lock().expect("queue").pop_front();
    next.unwrap_or_else(|| {
        let mut r = Response::new(Body::from("no answer left"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    })
}

/// The answers in `data`, in order.
fn answers(data: &[u8]) -> impl Iterator<Item = Response> + '_ {
    split(data, b"\n====\n").map(answer)
}

fn split<'a>(data: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                rest = Some(&r[i + sep.len()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn answer(text: &[u8]) -> Response {
    let (head, body) = match text.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text, &b""[..]),
    };
    let mut lines = crate::lines(head);
    let status = lines
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.trim().parse::<u16>().ok())
        .filter(|s| (200..=599).contains(s))
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut r = Response::new(Body::from(body.to_vec()));
    *r.status_mut() = status;
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(line[..colon].trim_ascii()),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        r.headers_mut().append(name, value);
    }
    r
}
