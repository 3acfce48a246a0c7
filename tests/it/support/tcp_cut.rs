//! A TCP relay that a test can cut and restore: Usher talks to the machine's shared PostgreSQL
//! through it, so an outage can be staged without stopping the server other people use; nginx
//! talks to Usher through it where a test counts nginx's connections.
//! Cutting closes every relayed connection and turns new ones away (accepted, then closed at
//! once, as a database that is restarting does); restoring relays again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Default)]
struct State {
    cut: AtomicBool,
    /// Connections relayed since the start.
    relayed: AtomicUsize,
    relays: Mutex<Vec<AbortHandle>>,
}

/// The relay; stops when dropped.
pub struct TcpCut {
    pub addr: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

impl TcpCut {
    /// Relays 127.0.0.1:<free port> to `target`.
    pub async fn start(target: SocketAddr) -> TcpCut {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if shared.cut.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                shared.relayed.fetch_add(1, Ordering::SeqCst);
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                shared.relays.lock().unwrap().push(relay.abort_handle());
            }
        })
        .abort_handle();
        TcpCut {
            addr,
            state,
            accept,
        }
    }

    /// How many connections it has relayed (a client that keeps its connections open opens few).
    pub fn connections(&self) -> usize {
        self.state.relayed.load(Ordering::SeqCst)
    }

    /// A relay in front of the database of `url` (PostgreSQL), and the URL that goes through it.
    pub async fn in_front_of(url: &str) -> (TcpCut, String) {
        let mut u = url::Url::parse(url).expect("database URL");
        let host = u.host_str().expect("database host").to_string();
        let port = u.port().unwrap_or(5432);
        let target = tokio::net::lookup_host((host.as_str(), port))
            .await
            .expect("database host resolves")
            .next()
            .expect("an address");
        let relay = TcpCut::start(target).await;
        u.set_host(Some(&relay.addr.ip().to_string())).unwrap();
        u.set_port(Some(relay.addr.port())).unwrap();
        (relay, u.to_string())
    }

    /// Closes every relayed connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for relay in self.state.relays.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    /// Relays again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpCut {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
