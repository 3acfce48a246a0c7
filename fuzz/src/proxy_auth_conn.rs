//! Target `proxy_auth_conn`: the connection loop (`http::proxy_auth_conn`) against hyper alone.
//! The input is what a client sends on one connection, byte for byte (`$ALICE`, `$KID` and
//! `$REVOKED` stand for session tokens, as in the `proxy_auth` target). It is served twice from
//! the same `Core` and router, over an in-memory pipe: once the way Usher serves every
//! connection (the loop, handing over to hyper at the first request it does not take), once by
//! hyper and the router alone. The client sends everything, closes its sending side and reads
//! until the server closes.
//!
//! Invariant, not only "no panic": both ways send the same bytes back, two things aside: the
//! `date` values (the clock's), and `connection: close` lines. Hyper adds the latter to an
//! answer it writes after it has seen the client close, and when that is depends on timing
//! whenever an answer waits for the store (seen: a request whose body was cut short got it in
//! one run of hyper and not in the next). The loop's own `connection: close` is checked by
//! tests/it/proxy_auth_conn.rs. Whether the loop answers a request or hands it over, nobody can
//! tell it was there.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use usher::http::proxy_auth_conn::{hand_over, serve_connection};
use usher::Core;

use crate::proxy_auth::{substitute, worlds};

/// What one AFL child serves with (made on its first input).
struct Child {
    rt: tokio::runtime::Runtime,
    core: Arc<Core>,
    router: Router,
}

fn child() -> &'static Child {
    static CHILD: OnceLock<Child> = OnceLock::new();
    CHILD.get_or_init(|| {
        let rt = crate::runtime();
        let core: Arc<Core> = rt
            .block_on(Core::open(worlds()[0].config.clone()))
            .expect("Usher opens");
        let router = usher::http::router::router(core.clone());
        Child { rt, core, router }
    })
}

/// Makes the database, the people and their sessions before the fork.
pub fn prepare() {
    worlds();
}

/// One connection's bytes, served both ways; panics when the answers differ.
pub fn run(data: &[u8]) {
    let sent = substitute(data, &worlds()[0]);
    let c = child();
    let through_loop = c.rt.block_on(served(&sent, c, true));
    let by_hyper = c.rt.block_on(served(&sent, c, false));
    let (through_loop, by_hyper) = (comparable(&through_loop), comparable(&by_hyper));
    if std::env::var_os("USHER_FUZZ_SHOW").is_some() {
        eprintln!("loop:\n{through_loop}\nhyper:\n{by_hyper}");
    }
    assert_eq!(
        through_loop, by_hyper,
        "the loop answered otherwise than hyper"
    );
}

/// What the client reads back after sending `sent` and closing its sending side.
async fn served(sent: &[u8], c: &Child, through_loop: bool) -> Vec<u8> {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
    // Never shutting down: the sender lives until both sides are done.
    let (_running, shutdown) = watch::channel(false);
    let (core, router) = (c.core.clone(), c.router.clone());
    let serving = async move {
        if through_loop {
            serve_connection(server, peer, core, router, shutdown).await;
        } else {
            hand_over(server, Vec::new(), peer, core, router, shutdown).await;
        }
    };
    let talking = async {
        let mut answers = Vec::new();
        if client.write_all(sent).await.is_ok() {
            let _ = client.shutdown().await;
        }
        let _ = client.read_to_end(&mut answers).await;
        answers
    };
    tokio::join!(serving, talking).1
}

/// The answers as text, each `date` header's value replaced and `connection: close` lines left
/// out (see the module's comment).
fn comparable(answers: &[u8]) -> String {
    let text = String::from_utf8_lossy(answers);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive("\r\n") {
        if line.len() > 6 && line[..6].eq_ignore_ascii_case("date: ") {
            out.push_str("date: <now>\r\n");
        } else if !line.eq_ignore_ascii_case("connection: close\r\n") {
            out.push_str(line);
        }
    }
    out
}
