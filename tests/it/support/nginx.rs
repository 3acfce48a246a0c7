//! A real nginx (the Debian package) started as a child process for one test.
//!
//! The caller supplies only the body of the `http {}` block, with `{{PORT}}` where nginx's own
//! listen port goes; everything else (pid file, logs, temp paths) lives in a fresh temp dir, so
//! tests run in parallel and never touch `/etc/nginx` or `/var/log/nginx`.
//!
//! Example: Organizr-style `auth_request` in front of an upstream (`AUTH_PORT` and `APP_PORT`
//! substituted by the test with `format!` / `replace`):
//!
//! ```text
//! server {
//!     listen 127.0.0.1:{{PORT}};
//!
//!     location ~ ^/auth-(.*) {
//!         internal;
//!         proxy_pass http://127.0.0.1:AUTH_PORT/api/v2/auth/$1;
//!         proxy_pass_request_body off;
//!         proxy_set_header Content-Length "";
//!         proxy_set_header X-Real-IP $remote_addr;
//!         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
//!     }
//!
//!     location /app/ {
//!         auth_request /auth-0;
//!         auth_request_set $auth_user $upstream_http_x_organizr_user;
//!         proxy_set_header X-WEBAUTH-USER $auth_user;
//!         proxy_pass http://127.0.0.1:APP_PORT;
//!     }
//! }
//! ```
//!
//! What nginx 1.22 does with the auth subrequest's status (observed in the harness self-test):
//! any 2xx lets the request through; 401 and 403 are returned to the client as they are (401
//! keeps the subrequest's `WWW-Authenticate`); every other status (3xx, 404, 5xx, or an auth
//! server that is down) becomes a 500 and an `auth request unexpected status` line in the
//! error log (a 302's `Location` is dropped: send people to a login page with `error_page 401`).
//! The subrequest is always a body-less GET, but it carries all the client's headers (cookies,
//! and a spoofed `X-WEBAUTH-USER` too); `proxy_set_header X-WEBAUTH-USER $auth_user` replaces
//! the client's header on the way to the app.
#![allow(dead_code)] // each test binary uses a different part of the support code

use super::process::free_port;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long `start` waits for nginx to accept connections before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many fresh ports `start` tries when another process grabbed the one it picked.
const PORT_ATTEMPTS: usize = 5;

/// A running nginx master process with its own prefix dir; stopped and cleaned up on drop.
pub struct Nginx {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Nginx {
    /// Writes a full nginx.conf around `http_block_body` (`{{PORT}}` replaced by a free loopback
    /// port), validates it with `nginx -t` and starts nginx; panics with nginx's output on failure.
    pub async fn start(http_block_body: &str) -> Nginx {
        let bin = nginx_bin();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let dir = prefix_dir();
            let conf = full_config(
                dir.path(),
                &http_block_body.replace("{{PORT}}", &port.to_string()),
            );
            let conf_path = dir.path().join("nginx.conf");
            fs::write(&conf_path, &conf).expect("write nginx.conf");
            if let Err(output) = run_config_test(&bin, dir.path(), &conf_path) {
                panic!("nginx -t rejected the config:\n{output}\n--- nginx.conf ---\n{conf}");
            }
            let stderr =
                fs::File::create(dir.path().join("stderr.log")).expect("create stderr.log");
            let child = Command::new(&bin)
                .arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-c")
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            // Built before waiting, so a panic below still stops nginx through Drop.
            let mut nginx = Nginx { child, port, dir };
            match nginx.wait_until_ready().await {
                Ok(()) => return nginx,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => {
                    panic!("nginx did not start on port {port}:\n{log}\n--- nginx.conf ---\n{conf}")
                }
            }
        }
        panic!("nginx could not bind a free port in {PORT_ATTEMPTS} attempts");
    }

    /// The loopback port nginx listens on (what `{{PORT}}` became).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// The error log so far, for assertion messages.
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// The access log so far (combined format).
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// Ready once the pid file exists (written only after every listen socket is bound) and the
    /// port accepts a connection; Err(logs) if nginx exits or the timeout passes first.
    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let pid_file = self.dir.path().join("nginx.pid");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("nginx exited with {status}\n{}", self.logs()));
            }
            // nginx would retry bind() for 2.5 s; the caller tries another port at once instead.
            if self.error_log().contains("Address already in use") {
                return Err(self.logs());
            }
            // `nginx -t` leaves a pid file too, hence the comparison with our child's pid.
            let pid_written = fs::read_to_string(&pid_file)
                .is_ok_and(|pid| pid.trim() == self.child.id().to_string());
            if pid_written
                && tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not ready after {START_TIMEOUT:?}\n{}",
                    self.logs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn logs(&self) -> String {
        let stderr = fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        format!(
            "--- error.log ---\n{}--- stderr ---\n{stderr}",
            self.error_log()
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        super::process::stop(&mut self.child);
    }
}

/// Runs `nginx -t` on a complete config text (e.g. a generated snippet wrapped in a server);
/// Err carries nginx's output. Relative paths in the config resolve against a temp prefix dir.
pub fn nginx_test_config(full_conf_text: &str) -> Result<(), String> {
    let bin = nginx_bin();
    let dir = prefix_dir();
    let conf_path = dir.path().join("nginx.conf");
    fs::write(&conf_path, full_conf_text).expect("write nginx.conf");
    run_config_test(&bin, dir.path(), &conf_path)
}

/// Like [`nginx_test_config`], for the body of an `http {}` block as [`Nginx::start`] takes it.
pub fn nginx_test_http_block(http_block_body: &str) -> Result<(), String> {
    let bin = nginx_bin();
    let dir = prefix_dir();
    let conf = full_config(
        dir.path(),
        &http_block_body.replace("{{PORT}}", &free_port().to_string()),
    );
    let conf_path = dir.path().join("nginx.conf");
    fs::write(&conf_path, conf).expect("write nginx.conf");
    run_config_test(&bin, dir.path(), &conf_path)
}

/// `NGINX_BIN` or the Debian package's path; panics (never skips) when it is missing.
fn nginx_bin() -> PathBuf {
    let bin =
        PathBuf::from(std::env::var("NGINX_BIN").unwrap_or_else(|_| "/usr/sbin/nginx".into()));
    if !bin.is_file() {
        panic!(
            "nginx not found at {}: run ./scripts/test, which installs it (apt-get install nginx)",
            bin.display()
        );
    }
    bin
}

fn run_config_test(bin: &Path, prefix: &Path, conf_path: &Path) -> Result<(), String> {
    let output = Command::new(bin)
        .arg("-t")
        .arg("-q")
        .arg("-p")
        .arg(prefix)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .arg("-c")
        .arg(conf_path)
        .output()
        .unwrap_or_else(|e| panic!("run {} -t: {e}", bin.display()));
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A temp dir nginx's workers can enter: when tests run as root the workers run as `nobody`,
/// and tempfile's 0700 would keep them out of their own temp paths.
fn prefix_dir() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("usher-nginx-")
        .tempdir()
        .expect("create temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
    dir
}

fn full_config(dir: &Path, http_block_body: &str) -> String {
    let d = dir.display();
    format!(
        "daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
lock_file {d}/nginx.lock;
error_log {d}/error.log info;

events {{}}

http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body_temp;
    proxy_temp_path {d}/proxy_temp;
    fastcgi_temp_path {d}/fastcgi_temp;
    uwsgi_temp_path {d}/uwsgi_temp;
    scgi_temp_path {d}/scgi_temp;

{http_block_body}
}}
"
    )
}
