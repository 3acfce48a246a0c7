//! A data dir that fills up or is read-only. Staged on a small tmpfs the test mounts itself
//! (tests run as root, where chmod does not stop a write). A running server cannot be turned
//! read-only under its open database (the kernel refuses to remount a file system with files
//! open for writing), so the running case is a full disk and the read-only case is tested at
//! start. Always SQLite: this is SQLite's data dir (a full PostgreSQL disk is its server's).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reqwest::header::COOKIE;
use reqwest::Client;
use serde_json::json;
use sqlx::{Connection, Row};
use usher::Config;

use super::*;
use crate::cli::fails;

/// A tmpfs of `size` mounted on a fresh temp dir; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("the mount command runs");
        assert!(
            out.status.success(),
            "mounting a tmpfs (to stage a full or read-only data dir) needs root or CAP_SYS_ADMIN: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills every free byte with a file, returned to free the space again.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut f = File::create(&filler).unwrap();
        let mut chunk = 1 << 16;
        while chunk > 0 {
            if f.write_all(&vec![1u8; chunk]).is_err() {
                chunk /= 2;
            }
        }
        let _ = f.sync_all();
        filler
    }

    /// Remounts read-only; the kernel refuses while a file is open for writing (a closing
    /// SQLite connection may hold one a moment longer, and needs the runtime to let go of it),
    /// so it tries for a few seconds, yielding to the runtime meanwhile.
    async fn remount_read_only(&self) {
        let start = std::time::Instant::now();
        loop {
            let out = Command::new("mount")
                .args(["-o", "remount,ro"])
                .arg(self.path())
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            let why = String::from_utf8_lossy(&out.stderr);
            assert!(
                start.elapsed() < std::time::Duration::from_secs(5),
                "remount read-only: {why}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A JSON request with `cookie`; status and body.
async fn send(
    http: &Client,
    method: &str,
    url: &str,
    cookie: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = http
        .request(method.parse().unwrap(), url)
        .header(COOKIE, cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// Empties the SQLite write-ahead log into the database file, so that the next write must
/// grow the log (else it could reuse the log's old pages and succeed on a full disk).
async fn empty_the_wal(db: &Path) {
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>(0), 0, "checkpoint not blocked");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_full_data_dir_refuses_writes_clearly_keeps_signed_in_people_and_heals() {
    let disk = Tmpfs::mount("16m");
    let data = disk.path().join("data");
    let url = usher::config::sqlite_url(&data.join("usher.db"));
    let ids = seed_users(
        Config::for_data_dir(&data),
        &[("root", 0), ("alice", 4), ("bob", 4)],
    )
    .await;
    let server = Server::start(usher_serve(&data, &url, None)).await;
    let http = Client::new();
    let (_, admin) = sign_in(&http, &server.url(""), "root").await.unwrap();
    let (_, alice) = sign_in(&http, &server.url(""), "alice").await.unwrap();
    let (admin, alice) = (admin.unwrap(), alice.unwrap());
    let check = server.url("/api/v2/auth/4");
    assert_eq!(
        status_with(&http, &check, &alice).await.unwrap(),
        200,
        "cached now"
    );

    empty_the_wal(&data.join("usher.db")).await;
    let filler = disk.fill();

    let edit = server.url(&format!("/api/v2/users/{}", ids[2]));
    let edit_bob = || {
        send(
            &http,
            "PATCH",
            &edit,
            &admin,
            json!({"email": "bob@full.example"}),
        )
    };
    let (status, body) = edit_bob().await;
    assert_eq!(status, 507, "{body}");
    crate::support::assert_error(&body, "storage_full");
    let settings = server.url("/api/v2/settings");
    let (status, body) = send(
        &http,
        "PATCH",
        &settings,
        &admin,
        json!({"remember_days": 9}),
    )
    .await;
    assert_eq!(status, 507, "{body}");
    let r = http
        .post(server.url("/api/v2/login"))
        .json(&json!({"username": "bob", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        507,
        "a sign-in needs a new session row\n{}",
        server.log()
    );
    assert!(session_cookie(&r).is_none(), "no session without its row");
    crate::support::assert_error(&r.json().await.unwrap(), "storage_full");
    for _ in 0..3 {
        assert_eq!(
            status_with(&http, &check, &alice).await.unwrap(),
            200,
            "alice keeps her pass"
        );
    }
    let log = server.log();
    let line = format!("data dir full / read-only: {}", data.display());
    assert!(log.contains(&line), "no {line:?} in:\n{log}");

    // Space comes back: the same server saves again, without a restart.
    fs::remove_file(filler).unwrap();
    let (status, body) = edit_bob().await;
    assert_eq!(status, 200, "{body}\n{}", server.log());
    let (status, bob) = sign_in(&http, &server.url(""), "bob").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        status_with(&http, &check, &bob.unwrap()).await.unwrap(),
        200
    );
}

#[tokio::test]
async fn serve_on_a_full_or_read_only_data_dir_says_so_and_names_it() {
    for read_only in [false, true] {
        let disk = Tmpfs::mount("16m");
        let data = disk.path().join("data");
        let url = usher::config::sqlite_url(&data.join("usher.db"));
        seed_users(Config::for_data_dir(&data), &[("root", 0)]).await;
        let cause = if read_only {
            disk.remount_read_only().await;
            "read-only"
        } else {
            disk.fill();
            "full"
        };
        let shown = data.display().to_string();
        let err = fails(
            usher_serve(&data, &url, None),
            None,
            &["data dir full / read-only", &shown, cause],
        );
        assert_eq!(err.trim().lines().count(), 1, "one message: {err}");
    }
}
