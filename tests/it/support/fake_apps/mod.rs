//! Fakes of the apps Usher signs people into (spec §8–§10 and the route table of §11): Tautulli,
//! Ombi, Overseerr and Jellyfin. Each checks what the real one checks (CSRF, API keys, the
//! Authorization header) and answers with the real status codes, bodies and cookie attributes.
//! A fake can be told to hang, to simulate an app that accepts the connection and never answers.
#![allow(dead_code)]

pub mod jellyfin;
pub mod ombi;
pub mod overseerr;
pub mod pms;
pub mod tautulli;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

/// How long a hanging fake holds a request. Tests show a login or SSO run ends well before this
/// (bounds of HANG / 2, so a loaded machine cannot make them flaky, while waiting for the app
/// would still fail them).
pub const HANG: Duration = Duration::from_secs(120);

/// One request as a fake saw it (for asserting what Usher sent).
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The query string (empty when none).
    pub query: String,
    pub headers: HeaderMap,
}

/// What every fake shares: its address, whether it hangs, and the requests it saw.
#[derive(Debug, Default)]
pub struct Control {
    pub hang: AtomicBool,
    pub seen: Mutex<Vec<Seen>>,
}

impl Control {
    /// Makes every later request hang for [`HANG`] (the app is "up" but stuck).
    pub fn hang(&self) {
        self.hang.store(true, Ordering::SeqCst);
    }

    /// Answers again (the app is back).
    pub fn unhang(&self) {
        self.hang.store(false, Ordering::SeqCst);
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A running fake.
pub struct Running {
    pub addr: SocketAddr,
    pub control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `http://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on 127.0.0.1:0, recording requests and honouring `hang`.
pub async fn serve(router: Router) -> Running {
    let control = Arc::new(Control::default());
    let c = control.clone();
    let router = router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let c = c.clone();
            async move { record_and_maybe_hang(c, req, next).await }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake app");
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("fake app serves");
    });
    Running {
        addr,
        control,
        task,
    }
}

async fn record_and_maybe_hang(c: Arc<Control>, req: Request, next: Next) -> Response {
    c.seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or_default().to_string(),
        headers: req.headers().clone(),
    });
    if c.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(HANG).await;
    }
    next.run(req).await
}

/// A URL where nothing listens (an app that is down): a port bound and released at once.
pub async fn down_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// A random token in the shape apps use (hex).
pub fn random_hex(bytes: usize) -> String {
    hex::encode(
        (0..bytes)
            .map(|_| rand::random::<u8>())
            .collect::<Vec<u8>>(),
    )
}

/// The value of cookie `name` in a request's Cookie headers.
pub fn request_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}
