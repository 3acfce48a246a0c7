//! The server loop: one port, HTTP/1.1 (as before: Usher was never built with HTTP/2), each
//! connection served by hyper directly. A proxy-auth request (nginx `auth_request`, forward
//! auth) goes straight to [`proxy_auth::answer_request`]; every other request goes through the
//! router unchanged.
//!
//! The short way exists because the proxy check runs on every request of every protected app,
//! and there the router's work (route walk, boxed body and futures, extension maps) is pure
//! overhead. It must never answer an address differently from the router: [`is_proxy_auth_path`]
//! mirrors the router's proxy-auth routes, and a test compares both answers address by address.

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
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::proxy_auth;
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
    let graceful = GracefulShutdown::new();
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
        let service = Connection {
            core: core.clone(),
            router: router.clone(),
            peer,
        };
        let conn = http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!("connection from {peer} ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
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

/// One client connection's service.
struct Connection {
    core: Arc<Core>,
    router: Router,
    peer: SocketAddr,
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
