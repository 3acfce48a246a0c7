//! Crash safety with the real `usher` binary: kill -9 in the middle of a storm of writes loses
//! nothing the server acknowledged and leaves a store that opens cleanly; a full or read-only
//! data dir gives a clear error while signed-in people keep passing proxy-auth; one of two
//! instances killed behind nginx leaves every session working through the other.
//!
//! The ledger rule of every test here: only what the server acknowledged (a 2xx arrived) must
//! survive; a request in flight at the kill may or may not have been saved.

mod full_disk;
mod storm;
mod two_instances;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{COOKIE, SET_COOKIE};
use usher::auth::accounts::{Acting, CreateUser};
use usher::Config;

use crate::cli::{serve, Server};
use crate::support::PASSWORD;

/// `usher serve` on a free port with this data dir, database and key (none: the data dir's).
fn usher_serve(data: &Path, database_url: &str, key: Option<&str>) -> Command {
    let mut cmd = serve(data, "127.0.0.1:0", &[]);
    cmd.env("USHER_DATABASE_URL", database_url);
    if let Some(key) = key {
        cmd.env("USHER_SECRET_KEY", key);
    }
    cmd
}

/// SIGKILL (no chance to flush or close anything) and reap.
fn kill9(server: &mut Server) {
    server.proc.0.kill().expect("SIGKILL");
    server.proc.0.wait().expect("reaped");
}

/// Creates the accounts `(name, group)` in the store of `config` before any server runs, as
/// `usher user add` would; returns their ids in the same order.
async fn seed_users(config: Config, users: &[(&str, i64)]) -> Vec<i64> {
    let core = usher::Core::open(config).await.expect("store opens");
    let mut ids = Vec::new();
    for (name, group) in users {
        let user = core
            .create_user(
                CreateUser {
                    username: (*name).into(),
                    email: Some(format!("{name}@example.com")),
                    password: Some(PASSWORD.into()),
                    group_id: Some(*group),
                    ..Default::default()
                },
                &Acting::cli(),
            )
            .await
            .expect("user created");
        ids.push(user.id);
    }
    core.store.close().await;
    ids
}

/// The session cookie a sign-in answer sets, as `name=value`, if any.
pub(crate) fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("usher_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

/// `POST {base}/api/v2/login`; the status and the session cookie it set.
async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    name: &str,
) -> reqwest::Result<(u16, Option<String>)> {
    let r = http
        .post(format!("{base}/api/v2/login"))
        .json(&serde_json::json!({ "username": name, "password": PASSWORD }))
        .send()
        .await?;
    Ok((r.status().as_u16(), session_cookie(&r)))
}

/// Status of `GET {url}` carrying `cookie`.
async fn status_with(http: &reqwest::Client, url: &str, cookie: &str) -> reqwest::Result<u16> {
    let r = http.get(url).header(COOKIE, cookie).send().await?;
    Ok(r.status().as_u16())
}

/// A delay of up to `max`, different from run to run (when in the storm the kill falls).
fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u128;
    Duration::from_millis((nanos % max.as_millis().max(1)) as u64)
}

/// The key file of a data dir, as USHER_SECRET_KEY would give it to another instance.
fn key_of(data: &Path) -> String {
    std::fs::read_to_string(data.join("secret.key"))
        .expect("secret.key")
        .trim()
        .to_string()
}
