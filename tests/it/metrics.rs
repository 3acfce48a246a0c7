//! `GET /metrics` as a scraper sees it: 404 while off; on, the Prometheus text for loopback (a
//! trusted proxy by default) and for the bearer token, 404 for anyone else, including a client
//! behind a trusted proxy; the counters moving after proxy-auth answers, sign-ins, an SSO
//! sign-in into a fake Jellyfin and a plex.tv call; every scrape passing `promtool check
//! metrics`; and the Grafana dashboard in docs/ graphing only series Usher exports.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::Client;
use serde_json::{json, Value};

use crate::api_login::{bare, set_settings};
use crate::support::fake_apps::jellyfin::{FakeJellyfin, JellyfinConfig};
use crate::support::plex_app::{PlexApp, PlexSetup};
use crate::support::{TestApp, PASSWORD};

const PROMTOOL: &str = "/usr/bin/promtool";

/// Runs Prometheus' own format check on a scrape; fails (never skips) when promtool is missing.
fn promtool_check(text: &str) {
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{PROMTOOL} cannot run ({e}): install Debian's `prometheus` package \
                 (apt-get install -y --no-install-recommends prometheus; ./scripts/test does)"
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused the scrape:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of one sample (`name` or `name{labels}` exactly as exported); 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(0.0)
}

async fn scrape(app: &TestApp, client: &Client) -> String {
    let r = client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text().await.unwrap()
}

async fn status_of(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn metrics_are_a_plain_404_while_disabled() {
    let app = TestApp::spawn().await;
    let c = bare();
    let off = c.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(off.status(), 404);
    let unknown = c.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(off.headers().len(), unknown.headers().len());
    assert_eq!(off.text().await.unwrap(), unknown.text().await.unwrap());
    // Not even with a token set and sent.
    set_settings(&app, json!({"metrics.token": "scrape-token-1234"})).await;
    let with_token = c
        .get(app.url("/metrics"))
        .bearer_auth("scrape-token-1234")
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 404);
}

#[tokio::test]
async fn counters_move_with_proxy_auth_sign_ins_and_sso() {
    let app = TestApp::spawn().await;
    let jellyfin = FakeJellyfin::start(JellyfinConfig::with_users(&[("alice", PASSWORD)])).await;
    set_settings(
        &app,
        json!({
            "metrics.enabled": true,
            "sso.jellyfin.enabled": true,
            "sso.jellyfin.url": jellyfin.base_url(),
            "sso.jellyfin.browser_url": "https://usher.example.com/jellyfin",
        }),
    )
    .await;
    app.add_user("alice", 4).await;
    let scraper = bare();
    let before = scrape(&app, &scraper).await;
    promtool_check(&before);

    let alice = app.client();
    assert_eq!(
        app.login(&alice, "alice", "wrong password").await.status(),
        401
    );
    assert_eq!(app.login(&alice, "alice", PASSWORD).await.status(), 200);
    // Three passes as alice (the first loads her session, the others come from memory), two
    // refusals without a cookie, an unknown cookie twice (one store lookup, then remembered),
    // and a group that is neither a number nor a tab.
    for _ in 0..3 {
        assert_eq!(status_of(alice.get(app.url("/api/v2/auth/4"))).await, 200);
    }
    for _ in 0..2 {
        assert_eq!(status_of(scraper.get(app.url("/api/v2/auth/4"))).await, 401);
    }
    for _ in 0..2 {
        let stale = scraper.get(app.url("/api/v2/auth/4")).header(
            "cookie",
            "usher_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        );
        assert_eq!(status_of(stale).await, 401);
    }
    assert_eq!(
        status_of(scraper.get(app.url("/api/v2/auth/no-such-tab"))).await,
        401
    );

    let after = scrape(&app, &scraper).await;
    promtool_check(&after);
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        moved("usher_proxy_auth_requests_total{result=\"user\"}"),
        3.0
    );
    assert_eq!(
        moved("usher_proxy_auth_requests_total{result=\"refused\"}"),
        4.0
    );
    assert_eq!(
        moved("usher_proxy_auth_requests_total{result=\"malformed\"}"),
        1.0
    );
    assert_eq!(moved("usher_proxy_auth_duration_seconds_count"), 8.0);
    assert!(moved("usher_proxy_auth_duration_seconds_sum") > 0.0);
    assert_eq!(
        moved("usher_proxy_auth_duration_seconds_bucket{le=\"+Inf\"}"),
        8.0
    );
    // alice: one store load, two hits; the unknown cookie: one store lookup, one hit.
    assert_eq!(moved("usher_session_cache_misses_total"), 2.0);
    assert_eq!(moved("usher_session_cache_hits_total"), 3.0);
    assert!(sample(&after, "usher_active_sessions") >= 1.0, "{after}");
    assert_eq!(
        moved("usher_logins_total{method=\"password\",result=\"success\"}"),
        1.0
    );
    assert_eq!(
        moved("usher_logins_total{method=\"password\",result=\"failure\"}"),
        1.0
    );
    assert_eq!(
        moved("usher_sso_attempts_total{app=\"jellyfin\",result=\"ok\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        moved("usher_sso_upstream_duration_seconds_count{app=\"jellyfin\"}"),
        1.0
    );
}

#[tokio::test]
async fn plex_tv_latency_and_plex_sign_ins_are_counted() {
    let p = PlexApp::with(PlexSetup {
        auth_type: "backend",
        ..Default::default()
    })
    .await;
    p.set(json!({"metrics.enabled": true})).await;
    let before = scrape(&p.app, &bare()).await;
    let (status, body) = p
        .password_login(&p.app.client(), "friendly", "hunter2")
        .await;
    assert_eq!(status, 200, "{body}");
    let after = scrape(&p.app, &bare()).await;
    promtool_check(&after);
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(moved("usher_plex_upstream_duration_seconds_count") >= 1.0);
    assert_eq!(
        moved("usher_logins_total{method=\"password\",result=\"success\"}"),
        1.0
    );
}

#[tokio::test]
async fn untrusted_clients_need_the_token() {
    let app = TestApp::spawn().await;
    // Loopback stops being a trusted proxy: this test's requests now come from outside.
    set_settings(
        &app,
        json!({"metrics.enabled": true, "trusted_proxies": ["192.0.2.1/32"]}),
    )
    .await;
    let c = bare();
    let metrics = || c.get(app.url("/metrics"));
    assert_eq!(status_of(metrics()).await, 404);
    assert_eq!(status_of(metrics().bearer_auth("anything")).await, 404);

    set_settings(&app, json!({"metrics.token": "scrape-token-1234"})).await;
    assert_eq!(status_of(metrics()).await, 404);
    assert_eq!(
        status_of(metrics().bearer_auth("scrape-token-123")).await,
        404
    );
    assert_eq!(
        status_of(metrics().bearer_auth("scrape-token-12345")).await,
        404
    );
    assert_eq!(
        status_of(metrics().basic_auth("scrape-token-1234", None::<&str>)).await,
        404
    );
    let r = metrics()
        .bearer_auth("scrape-token-1234")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    promtool_check(&r.text().await.unwrap());
    // Only GET (and HEAD) read them.
    let post = c.post(app.url("/metrics")).bearer_auth("scrape-token-1234");
    assert_eq!(status_of(post).await, 404);
}

#[tokio::test]
async fn a_client_behind_a_trusted_proxy_is_judged_by_its_own_address() {
    let app = TestApp::spawn().await;
    set_settings(&app, json!({"metrics.enabled": true})).await;
    let c = bare();
    // Loopback is the default trusted proxy; what matters is the client it forwards for.
    let outside = c
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9");
    assert_eq!(status_of(outside).await, 404);
    let local = c
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "127.0.0.1");
    assert_eq!(status_of(local).await, 200);
}

/// Every metric family a scrape can hold, without the `_bucket`/`_sum`/`_count` sample suffixes.
fn exported_families() -> Vec<String> {
    let m = usher::metrics::Metrics::new();
    m.sso_attempt("jellyfin", "ok", std::time::Duration::from_millis(1));
    m.render(0)
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

#[test]
fn the_grafana_dashboard_graphs_only_what_usher_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana-dashboard.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("docs/grafana-dashboard.json"))
            .expect("the dashboard is JSON");
    let families = exported_families();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    let mut graphed = std::collections::BTreeSet::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap_or("?");
        let targets = panel["targets"]
            .as_array()
            .expect("every panel has targets");
        assert!(!targets.is_empty(), "panel {title} graphs nothing");
        for target in targets {
            let expr = target["expr"].as_str().expect("each target has an expr");
            let names: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("usher_"))
                .collect();
            assert!(
                !names.is_empty(),
                "panel {title}: {expr} names no Usher metric"
            );
            for name in names {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|f| families.iter().any(|x| x == f))
                    .unwrap_or(name);
                assert!(
                    families.iter().any(|f| f == family),
                    "panel {title}: {name} is not exported (exported: {families:?})"
                );
                graphed.insert(family.to_string());
            }
        }
    }
    // And every family Usher exports has a place on the dashboard.
    for f in &families {
        assert!(graphed.contains(f), "{f} is on no panel");
    }
}

#[test]
fn the_scrape_config_in_docs_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/prometheus.yml"),
        &config,
    )
    .unwrap();
    // The remote job reads its token from a file beside the config, as docs/metrics.md says.
    std::fs::write(
        dir.path().join("usher-metrics-token"),
        "scrape-token-1234\n",
    )
    .unwrap();
    let out = Command::new(PROMTOOL)
        .args(["check", "config"])
        .arg(&config)
        .output()
        .unwrap_or_else(|e| {
            panic!("{PROMTOOL} cannot run ({e}): install Debian's `prometheus` package")
        });
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
