//! Usher's coverage-guided fuzz targets (cargo-afl), one module a target, each driving the real
//! code that reads untrusted input: the proxy-auth answer (router, cookie, `X-Forwarded-*`,
//! client IP, rules), the connection loop that answers it before hyper, redirect targets,
//! plex.tv's answers, the SSO apps' answers, Organizr's `config.php` and the OpenID Connect
//! provider's requests. A target checks what must hold, not only that nothing panics; a broken
//! invariant panics, which AFL records as a crash. `scripts/fuzz` builds and runs them.
//!
//! Each target has `prepare()` (run once before AFL's fork server starts: nothing that keeps a
//! thread or a socket) and `run(data)` (one input; state a child needs is made on its first
//! input and kept for the next).

pub mod config_php;
pub mod oidc;
pub mod plex;
pub mod proxy_auth;
pub mod proxy_auth_conn;
pub mod redirect;
pub mod sso;
mod upstream;

use std::collections::BTreeMap;

use usher::settings::Settings;

/// A settings snapshot from stored rows (`key` → JSON text), as the store would give it.
pub(crate) fn settings(rows: &[(&str, &str)]) -> Settings {
    let rows: BTreeMap<String, String> = rows
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let key = usher::crypto::SecretKey::parse(&"00".repeat(32)).expect("a valid test key");
    Settings::from_stored(&rows, &key).expect("valid settings")
}

/// A current-thread runtime: no worker threads, so it is made after the fork, per child.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The input as lines (a trailing `\r` dropped, so files written on any system read the same).
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}
