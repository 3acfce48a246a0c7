//! Usher: a single sign-on portal for Plex and its companions, answering nginx `auth_request`
//! (Organizr-compatible) on every request of every protected app.
//!
//! Layout: [`http`] → [`auth`] → [`domain`] ← [`store`]. [`App`] is what `usher serve` runs and
//! what the tests start on port 0.

pub mod audit;
pub mod auth;
pub mod config;
pub mod core;
pub mod crypto;
pub mod domain;
pub mod feed;
pub mod http;
pub mod import;
pub mod metrics;
pub mod oidc;
pub mod plex;
pub mod proxy_config;
pub mod settings;
pub mod sso;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use crate::config::Config;
pub use crate::core::Core;

/// A built server, bound to its port but not yet serving.
pub struct App {
    core: Arc<Core>,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Open(#[from] core::OpenError),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
}

/// Opens everything and binds the listener: the same app `usher serve` and the tests run.
pub async fn build_app(config: Config) -> Result<App, StartupError> {
    App::build(config).await
}

impl App {
    /// See [`build_app`].
    pub async fn build(config: Config) -> Result<App, StartupError> {
        let listen = config.listen;
        let core = Core::open(config).await?;
        let listener =
            tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| StartupError::Listen {
                    addr: listen,
                    reason: e.to_string(),
                })?;
        let addr = listener.local_addr().map_err(|e| StartupError::Listen {
            addr: listen,
            reason: e.to_string(),
        })?;
        core.spawn_background().await?;
        auth::password::warm_up();
        let app = App {
            core,
            listener,
            addr,
        };
        app.log_startup().await?;
        Ok(app)
    }

    async fn log_startup(&self) -> Result<(), StartupError> {
        let c = &self.core.config;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            data_dir = %c.data_dir.display(),
            database = %config::redact_url(&c.database_url),
            "Usher listening on http://{}",
            self.addr
        );
        let settings = self.core.settings();
        if settings.public_url.is_none() {
            tracing::info!("public_url is not set: cookies are not marked Secure (set it with `usher settings set public_url '\"https://…\"'`)");
        }
        if let Some(token) = self.core.ensure_setup_token().await? {
            let base = settings
                .public_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_string())
                .unwrap_or_else(|| format!("http://{}", self.addr));
            tracing::warn!(
                "No administrator yet. Create one at {base}/setup?token={token} (one-time link; also in {}), or run `usher user add NAME --email EMAIL --group 0`",
                c.data_dir.join("setup-token").display()
            );
        }
        Ok(())
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state.
    pub fn core(&self) -> Arc<Core> {
        self.core.clone()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = http::router::router(self.core.clone());
        http::serve::serve(self.listener, self.core.clone(), router, shutdown).await;
        let seen = self
            .core
            .sessions
            .take_last_seen(crate::domain::now_coarse());
        if !seen.is_empty() {
            let _ = self.core.store.touch_sessions(&seen).await;
        }
        self.core.store.close().await;
        Ok(())
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
