//! The real `usher` binary, run as a person at a terminal would: help texts, `serve` with its
//! logs and files, configuration layering and errors, and the `user`/`settings`/`group`/`tab`/
//! `healthcheck` commands against the data directory of a running server.
//!
//! Every command runs with a cleared environment (only PATH is passed on), so neither the
//! developer's USHER_* variables nor USHER_TEST_BACKEND reach it: these tests stay on SQLite in a
//! temporary data directory. The PostgreSQL path is the same `Core::open` the TestApp suite covers.
//! `db` (copy and backup) moves installs into PostgreSQL databases of its own as well.

mod accounts;
mod config;
mod db;
mod groups_tabs;
mod help;
mod oidc;
mod serve;

use std::fs::{self, File};
use std::io::{Read, Seek, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, Response};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_usher");
/// Bound on any one command and on a server becoming ready.
const DEADLINE: Duration = Duration::from_secs(30);
/// "A running server sees the change within a few seconds."
const LIVE: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse battery";

/// A child process that never outlives the test: killed and reaped on drop.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `usher ARGS…` with an empty environment apart from PATH.
pub(crate) fn usher(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    cmd
}

/// What a finished command showed.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

fn read_all(mut f: File) -> String {
    let mut s = String::new();
    f.rewind().unwrap();
    f.read_to_string(&mut s).unwrap();
    s
}

/// Runs a command to completion (bounded), feeding `stdin` when given.
pub(crate) fn run_with(mut cmd: Command, stdin: Option<&str>) -> Run {
    let (out, err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
    cmd.stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = Proc(cmd.spawn().expect("usher binary runs"));
    if let Some(input) = stdin {
        let mut pipe = child.0.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).unwrap();
    }
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < DEADLINE, "{cmd:?} did not finish");
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        success: status.success(),
        stdout: read_all(out),
        stderr: read_all(err),
    }
}

fn run(args: &[&str]) -> Run {
    run_with(usher(args), None)
}

/// Runs and expects success.
fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let r = run_with(usher(args), stdin);
    assert!(r.success, "usher {args:?} failed: {r:?}");
    r.stdout
}

/// Runs and expects failure with a message containing every needle.
pub(crate) fn fails(cmd: Command, stdin: Option<&str>, needles: &[&str]) -> String {
    let shown = format!("{cmd:?}");
    let r = run_with(cmd, stdin);
    assert!(!r.success, "{shown} should fail: {r:?}");
    for n in needles {
        assert!(r.stderr.contains(n), "{shown}: no {n:?} in {:?}", r.stderr);
    }
    r.stderr
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The text after `marker` in `text`, up to the first character not accepted by `keep`.
fn after(text: &str, marker: &str, keep: impl Fn(char) -> bool) -> Option<String> {
    let rest = &text[text.find(marker)? + marker.len()..];
    Some(rest.chars().take_while(|c| keep(*c)).collect())
}

/// A running `usher serve`, its stderr going to a file.
pub(crate) struct Server {
    pub(crate) proc: Proc,
    pub(crate) addr: SocketAddr,
    log: PathBuf,
    _logs: tempfile::TempDir,
}

impl Server {
    /// Starts `cmd` and waits (bounded) until it logs its address and answers /healthz there.
    pub(crate) async fn start(mut cmd: Command) -> Server {
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("stderr.log");
        cmd.stderr(File::create(&log).unwrap())
            .stdout(Stdio::null());
        let mut proc = Proc(cmd.spawn().expect("usher serve starts"));
        let start = Instant::now();
        let client = Client::new();
        loop {
            if let Some(status) = proc.0.try_wait().unwrap() {
                panic!("usher serve exited ({status}):\n{}", read(&log));
            }
            let text = read(&log);
            let addr = after(&text, "listening on http://", |c| {
                c.is_ascii_alphanumeric() || ".:[]".contains(c)
            })
            .and_then(|a| a.parse::<SocketAddr>().ok());
            if let Some(addr) = addr {
                let url = format!("http://{addr}/healthz");
                if client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
                {
                    return Server {
                        proc,
                        addr,
                        log,
                        _logs: logs,
                    };
                }
            }
            assert!(start.elapsed() < DEADLINE, "not ready:\n{text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn log(&self) -> String {
        read(&self.log)
    }

    /// Sends SIGTERM and returns whether it exited 0 (bounded wait).
    pub(crate) async fn terminate(&mut self) -> bool {
        let pid = self.proc.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.proc.0.try_wait().unwrap() {
                return status.success();
            }
            assert!(start.elapsed() < DEADLINE, "no exit after SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// `usher serve --data-dir DIR --listen ADDR EXTRA…`.
pub(crate) fn serve(dir: &Path, listen: &str, extra: &[&str]) -> Command {
    let mut args = vec![
        "serve",
        "--data-dir",
        dir.to_str().unwrap(),
        "--listen",
        listen,
    ];
    args.extend_from_slice(extra);
    usher(&args)
}

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn login(server: &Server, client: &Client, user: &str, password: &str) -> Response {
    client
        .post(server.url("/api/v2/login"))
        .json(&json!({ "username": user, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn status(server: &Server, client: &Client, path: &str) -> u16 {
    let r = client.get(server.url(path)).send().await.unwrap();
    r.status().as_u16()
}

/// Polls `check` until it holds, for at most `LIVE`.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < LIVE, "not within {LIVE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
