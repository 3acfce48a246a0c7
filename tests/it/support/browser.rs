//! Headless Chromium driven over WebDriver (Debian's `chromium` + `chromium-driver`), for tests
//! that must show what a person sees: redirects followed by a real browser, forms, cookies.
//!
//! ```text
//! let browser = Browser::start().await;
//! browser.goto(&nginx.url("/app/")).await;
//! browser.wait_for_url(|u| u.contains("/login")).await;
//! browser.fill("input[name=username]", "alice").await;
//! browser.click("button[type=submit]").await;
//! browser.wait_for_text("signed in").await;
//! browser.screenshot("after-login").await; // target/test-artifacts/after-login.png
//! browser.close().await;
//! ```
//!
//! Each `Browser` runs its own chromedriver on a free loopback port, with a fresh Chromium
//! profile in a temp dir, so tests run in parallel. A missing binary is a test failure with
//! the package to install, never a skip. `USHER_TEST_CHROMEDRIVER` / `USHER_TEST_CHROMIUM`
//! override the paths.
#![allow(dead_code)] // each test uses a different part of the support code

use super::process::free_port;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tempfile::TempDir;

/// How long `start` waits for chromedriver to answer.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `wait_for_*` and element look-ups wait before failing the test.
const WAIT_TIMEOUT: Duration = Duration::from_secs(15);

/// A headless Chromium session and the chromedriver behind it; both stop on `close` or drop.
pub struct Browser {
    client: Client,
    driver: Child,
    driver_log: PathBuf,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session through it;
    /// panics with the driver's log (and which package to install) when that fails.
    pub async fn start() -> Browser {
        Self::start_with(&[]).await
    }

    /// [`Browser::start`] with extra Chromium switches (e.g. a dark system theme).
    pub async fn start_with(extra_args: &[&str]) -> Browser {
        let driver_bin = binary(
            "USHER_TEST_CHROMEDRIVER",
            "/usr/bin/chromedriver",
            "chromium-driver",
        );
        let chromium_bin = binary("USHER_TEST_CHROMIUM", "/usr/bin/chromium", "chromium");
        let profile = tempfile::Builder::new()
            .prefix("usher-chromium-")
            .tempdir()
            .expect("temp dir for the Chromium profile");
        let driver_log = profile.path().join("chromedriver.log");
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", driver_log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so Drop can stop chromedriver and the Chromium it started.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", driver_bin.display()));
        let mut browser_parts = DriverGuard(Some(driver));
        wait_for_driver(port, &mut browser_parts, &driver_log).await;

        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--window-size=1280,900".into(),
            format!(
                "--user-data-dir={}",
                profile.path().join("profile").display()
            ),
        ];
        args.extend(extra_args.iter().map(|a| a.to_string()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium_bin,
                "args": args,
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => client,
            Err(e) => panic!(
                "chromedriver could not start Chromium ({}): {e}\n--- chromedriver log ---\n{}",
                chromium_bin.display(),
                std::fs::read_to_string(&driver_log).unwrap_or_default()
            ),
        };
        Browser {
            client,
            driver: browser_parts.0.take().expect("driver process"),
            driver_log,
            _profile: profile,
        }
    }

    /// The underlying fantoccini client, for anything this wrapper does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Navigates to `url` and waits for the page load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("browser could not open {url}: {e}"));
    }

    /// The address bar's URL now.
    pub async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current URL")
            .to_string()
    }

    /// The page's HTML source now.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// The visible text of the page's body now.
    pub async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits for the element found by `css` to exist; panics with where the browser is.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let found = self
            .client
            .wait()
            .at_most(WAIT_TIMEOUT)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(e) => panic!("no element {css:?} on {}: {e}", self.where_am_i().await),
        }
    }

    /// Clears the input found by `css` and types `value` into it.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear input");
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("typing into {css:?}: {e}"));
    }

    /// Clicks the element found by `css` (waits for it to exist first).
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css:?}: {e}"));
    }

    /// Waits until the current URL satisfies `pred`; returns it, or panics with the URL and
    /// page text it ended on.
    pub async fn wait_for_url(&self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let url = self.current_url().await;
            if pred(&url) {
                return url;
            }
            if Instant::now() > deadline {
                panic!(
                    "browser URL never matched within {WAIT_TIMEOUT:?}; ended on {}",
                    self.where_am_i().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the page's visible text contains `needle`; returns the whole text.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > deadline {
                panic!(
                    "text {needle:?} never appeared within {WAIT_TIMEOUT:?}; ended on {}",
                    self.where_am_i().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the viewport to `target/test-artifacts/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Ends the WebDriver session (Chromium exits) and stops chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        stop_group(&mut self.driver);
    }

    /// "URL (text: …)" for failure messages.
    async fn where_am_i(&self) -> String {
        let url = self.client.current_url().await.map(|u| u.to_string());
        let text: String = self.text().await.chars().take(600).collect();
        format!("{} (text: {text:?})", url.unwrap_or_else(|e| e.to_string()))
    }

    /// chromedriver's log so far, for failure messages.
    pub fn driver_log(&self) -> String {
        std::fs::read_to_string(&self.driver_log).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        stop_group(&mut self.driver);
    }
}

/// Stops chromedriver if `start` panics before a `Browser` exists.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            stop_group(child);
        }
    }
}

/// SIGTERM to chromedriver's process group (it and the Chromium it started), SIGKILL after 5 s.
fn stop_group(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.wait();
}

/// Polls chromedriver's `/status` until it answers; panics with its log otherwise.
async fn wait_for_driver(port: u16, driver: &mut DriverGuard, log: &std::path::Path) {
    let deadline = Instant::now() + DRIVER_START_TIMEOUT;
    let status_url = format!("http://127.0.0.1:{port}/status");
    let http = reqwest::Client::new();
    loop {
        if let Some(child) = driver.0.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "chromedriver exited with {status}\n--- chromedriver log ---\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        }
        if let Ok(r) = http.get(&status_url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if Instant::now() > deadline {
            panic!(
                "chromedriver did not answer on port {port} within {DRIVER_START_TIMEOUT:?}\n\
                 --- chromedriver log ---\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The env override or the Debian path; panics (never skips) when the binary is missing.
fn binary(env: &str, default: &str, package: &str) -> PathBuf {
    let bin = PathBuf::from(std::env::var(env).unwrap_or_else(|_| default.into()));
    if !bin.is_file() {
        panic!(
            "{} not found: run ./scripts/test, which installs it (apt-get install {package}), \
             or set {env}",
            bin.display()
        );
    }
    bin
}

/// `target/test-artifacts` (under `CARGO_TARGET_DIR` when set).
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("test-artifacts")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: a real page, a form typed into, a screenshot written.
    #[tokio::test]
    async fn browser_opens_the_login_page_and_types() {
        let app = crate::support::TestApp::spawn().await;
        let browser = Browser::start().await;
        browser.goto(&app.url("/login")).await;
        browser.wait_for_url(|u| u.contains("/login")).await;
        browser.fill("input[name=username]", "alice").await;
        let typed = browser
            .find("input[name=username]")
            .await
            .prop("value")
            .await
            .expect("value");
        assert_eq!(typed.as_deref(), Some("alice"));
        let shot = browser.screenshot("browser-self-test").await;
        let bytes = std::fs::read(&shot).expect("screenshot written");
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "not a PNG: {}",
            shot.display()
        );
        browser.close().await;
        app.stop().await;
    }
}
