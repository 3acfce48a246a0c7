//! A real Caddy (Debian's `caddy` package, 2.6) started as a child process for one test.
//!
//! The caller gives Caddyfile site blocks with `{{PORT}}` where the listen port goes (e.g.
//! `http://127.0.0.1:{{PORT}} { … }`); global options that keep Caddy to itself are prepended:
//! no admin endpoint, no automatic HTTPS, and HOME/XDG dirs in a fresh temp dir (so nothing is
//! written to the real home and tests run in parallel).
#![allow(dead_code)]

use super::process::free_port;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const START_TIMEOUT: Duration = Duration::from_secs(15);
const PORT_ATTEMPTS: usize = 5;

/// A running Caddy; stopped on drop.
pub struct Caddy {
    child: Child,
    port: u16,
    dir: TempDir,
}

const GLOBAL_OPTIONS: &str = "{\n\tadmin off\n\tauto_https off\n}\n\n";

impl Caddy {
    /// Validates (`caddy validate`) and starts Caddy with `sites` (`{{PORT}}` replaced by a free
    /// loopback port); panics with Caddy's output on failure.
    pub async fn start(sites: &str) -> Caddy {
        let bin = caddy_bin();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let dir = tempfile::Builder::new()
                .prefix("usher-caddy-")
                .tempdir()
                .expect("temp dir");
            let conf = format!(
                "{GLOBAL_OPTIONS}{}",
                sites.replace("{{PORT}}", &port.to_string())
            );
            let path = dir.path().join("Caddyfile");
            fs::write(&path, &conf).expect("write Caddyfile");
            if let Err(out) = validate_file(&bin, dir.path(), &path) {
                panic!("caddy validate rejected the config:\n{out}\n--- Caddyfile ---\n{conf}");
            }
            let log = fs::File::create(dir.path().join("caddy.log")).expect("caddy.log");
            let child = caddy_command(&bin, dir.path())
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            let mut caddy = Caddy { child, port, dir };
            match caddy.wait_until_ready().await {
                Ok(()) => return caddy,
                Err(log) if log.contains("address already in use") => continue,
                Err(log) => panic!("caddy did not start:\n{log}\n--- Caddyfile ---\n{conf}"),
            }
        }
        panic!("caddy could not bind a free port in {PORT_ATTEMPTS} attempts");
    }

    /// The loopback port Caddy listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Caddy's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }

    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("caddy exited with {status}\n{}", self.log()));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after {START_TIMEOUT:?}\n{}", self.log()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        super::process::stop(&mut self.child);
    }
}

/// `caddy validate` on site blocks (global options prepended, `{{PORT}}` → a free port).
pub fn caddy_validate(sites: &str) -> Result<(), String> {
    let bin = caddy_bin();
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = format!(
        "{GLOBAL_OPTIONS}{}",
        sites.replace("{{PORT}}", &free_port().to_string())
    );
    let path = dir.path().join("Caddyfile");
    fs::write(&path, &conf).expect("write Caddyfile");
    validate_file(&bin, dir.path(), &path).map_err(|e| format!("{e}\n--- Caddyfile ---\n{conf}"))
}

fn validate_file(bin: &Path, home: &Path, path: &Path) -> Result<(), String> {
    let out = caddy_command(bin, home)
        .args(["validate", "--adapter", "caddyfile", "--config"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("run {} validate: {e}", bin.display()));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn caddy_command(bin: &Path, home: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    c
}

/// `CADDY_BIN` or the Debian package's path; panics (never skips) when it is missing.
fn caddy_bin() -> PathBuf {
    let bin = PathBuf::from(std::env::var("CADDY_BIN").unwrap_or_else(|_| "/usr/bin/caddy".into()));
    if !bin.is_file() {
        panic!(
            "caddy not found at {}: run ./scripts/test, which installs it (apt-get install caddy)",
            bin.display()
        );
    }
    bin
}
