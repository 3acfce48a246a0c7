//! The server loop: one port, HTTP/1.1 (as before: Usher was never built with HTTP/2). Each
//! connection is first read by [`proxy_auth_conn`], which answers plain proxy-auth requests
//! (nginx `auth_request`, forward auth) itself and hands the connection to hyper at the first
//! other request. Through hyper, a proxy-auth request still skips the router and goes straight
//! to [`proxy_auth::answer_request`]; every other request goes through the router unchanged.
//!
//! The short ways exist because the proxy check runs on every request of every protected app,
//! and there the router's work (route walk, boxed body and futures, extension maps) and most of
//! hyper's (header map, response encoding) are pure overhead. They must never answer an address
//! differently from the router: [`is_proxy_auth_path`] mirrors the router's proxy-auth routes,
//! and a test compares the answers address by address.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use super::{proxy_auth, proxy_auth_conn};
use crate::core::Core;

/// Whether the router would hand this path to proxy-auth: `/api`, `/api/`, `/api/v2/auth`,
/// `/api/v2/organizr-auth`, either followed by `/…`, and `/api/v2/auth-…` (its fallback).
pub fn is_proxy_auth_path(path: &str) -> bool {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    path == "/api"
        || path == "/api/"
        || under("/api/v2/auth")
        || under("/api/v2/organizr-auth")
        || path.starts_with("/api/v2/auth-")
}

/// Serves `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    core: Arc<Core>,
    router: Router,
    shutdown: impl Future<Output = ()>,
) {
    // Every connection holds a receiver: it closes between requests once this turns true, and
    // the server is done when the last receiver is gone.
    let (shutting_down, watch_shutdown) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are one small write each: never hold one back waiting for an ACK.
        let _ = tcp.set_nodelay(true);
        tokio::spawn(proxy_auth_conn::serve_connection(
            tcp,
            peer,
            core.clone(),
            router.clone(),
            watch_shutdown.clone(),
        ));
    }
    drop(listener);
    drop(watch_shutdown);
    let _ = shutting_down.send(true);
    shutting_down.closed().await;
}

/// Out of file descriptors or similar: wait a moment instead of spinning (as axum does).
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return; // the client gave up before we accepted: nothing wrong here
    }
    tracing::error!("cannot accept a connection: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One client connection's service, once hyper has it.
pub(super) struct Connection {
    pub(super) core: Arc<Core>,
    pub(super) router: Router,
    pub(super) peer: SocketAddr,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, mut req: hyper::Request<Incoming>) -> Answer {
        if is_proxy_auth_path(req.uri().path()) {
            let core = self.core.clone();
            let peer = self.peer;
            return Box::pin(async move {
                Ok(proxy_auth::answer_request(&core, peer, req.uri(), req.headers()).await)
            });
        }
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let router = self.router.clone();
        Box::pin(async move { router.oneshot(req.map(Body::new)).await })
    }
}
