//! The docs show only snippets that tests run. Every fenced block in docs/**/*.md is preceded
//! by a marker saying where it comes from, and must equal that source exactly:
//!
//! - `<!-- file: docs/examples/NAME -->`: a file a test loads verbatim (nginx, Caddy, rules…);
//! - `<!-- usher: proxy-config ARGS -->`: the output of that `usher proxy-config` command,
//!   whose every variant the e2e tests load into the real nginx/Caddy (or parse, for Traefik).
//!
//! Also here: the SWAG-style include files running in nginx, and Grafana's settings matching
//! the header the snippets set.

use std::path::{Path, PathBuf};

use reqwest::header::{ACCEPT, HOST};
use serde_json::Value;

use crate::e2e_proxies::session_cookie;
use crate::proxy_config::run_cli;
use crate::support::echo::spawn_echo;
use crate::support::nginx::Nginx;
use crate::support::TestApp;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read docs dir") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// (marker, block text) for every fenced block; the marker is the last non-blank line before
/// the fence ("" when it is not a marker comment).
fn blocks(md: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut last = String::new();
    let mut lines = md.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```") {
            let mut body = String::new();
            for inner in lines.by_ref() {
                if inner.starts_with("```") {
                    break;
                }
                body.push_str(inner);
                body.push('\n');
            }
            let marker = if last.starts_with("<!--") {
                last.clone()
            } else {
                String::new()
            };
            out.push((marker, body));
            last.clear();
        } else if !line.trim().is_empty() {
            last = line.trim().to_string();
        }
    }
    out
}

/// Splits `a 'b c' d` like a shell would (single quotes only).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn every_docs_snippet_is_one_a_test_runs() {
    let mut files = Vec::new();
    markdown_files(&Path::new(ROOT).join("docs"), &mut files);
    files.sort();
    assert!(files.len() >= 12, "docs/proxies and docs/apps: {files:?}");
    let mut checked = 0;
    for file in &files {
        let md = std::fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(ROOT).unwrap().display().to_string();
        for (marker, body) in blocks(&md) {
            let inner = marker
                .strip_prefix("<!--")
                .and_then(|m| m.strip_suffix("-->"))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{name}: a code block without a source marker:\n{body}"));
            let expected = if let Some(path) = inner.strip_prefix("file:") {
                std::fs::read_to_string(Path::new(ROOT).join(path.trim()))
                    .unwrap_or_else(|e| panic!("{name}: {path}: {e}"))
            } else if let Some(cmd) = inner.strip_prefix("usher:") {
                let args = words(cmd.trim());
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (ok, out, err) = run_cli(&args);
                assert!(ok, "{name}: usher {cmd} failed: {err}");
                out
            } else {
                panic!("{name}: unknown marker {marker}");
            };
            assert_eq!(
                body.trim_end(),
                expected.trim_end(),
                "{name}: the block under {marker} differs from its source"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} snippets checked");
}

/// SWAG-style include files (docs/examples/swag/), running in nginx in front of an echo app.
#[tokio::test]
async fn swag_style_includes_work_in_nginx() {
    let app = TestApp::spawn().await;
    let alice = session_cookie(&app, "alice", 4).await;
    let (echo, _task) = spawn_echo().await;
    let dir = tempfile::tempdir().unwrap();
    let swag = Path::new(ROOT).join("docs/examples/swag");
    let read = |n: &str| std::fs::read_to_string(swag.join(n)).unwrap();
    std::fs::write(
        dir.path().join("usher-server.conf"),
        read("usher-server.conf").replace("usher:8420", &app.addr.to_string()),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("usher-location.conf"),
        read("usher-location.conf"),
    )
    .unwrap();
    let site = read("grafana.subdomain.conf")
        .replace("/config/nginx/", &format!("{}/", dir.path().display()))
        .replace("listen 80;", "listen 127.0.0.1:{{PORT}};")
        .replace("set $upstream_app grafana;", "set $upstream_app 127.0.0.1;")
        .replace(
            "set $upstream_port 3000;",
            &format!("set $upstream_port {};", echo.port()),
        );
    let nginx = Nginx::start(&site).await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |cookie: Option<&str>| {
        let mut r = c
            .get(nginx.url("/d/home?x=1"))
            .header(HOST, "grafana.example.com")
            .header(ACCEPT, "text/html")
            .header("X-WEBAUTH-USER", "root")
            .header("Remote-User", "root");
        if let Some(cookie) = cookie {
            r = r.header("cookie", cookie);
        }
        r.send()
    };
    let r = get(None).await.unwrap();
    assert_eq!(r.status(), 302, "{}", nginx.error_log());
    assert_eq!(
        r.headers()["location"],
        "http://grafana.example.com/login?rd=http%3A%2F%2Fgrafana.example.com%2Fd%2Fhome%3Fx%3D1"
    );
    let r = get(Some(&alice)).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["headers"]["x-webauth-user"], "alice");
    assert_eq!(body["headers"]["x-webauth-email"], "alice@example.com");
    assert!(body["headers"].get("remote-user").is_none(), "{body}");
}

/// Grafana's `[auth.proxy]` (and its environment form) read the header the generated nginx
/// snippet sets, and trust only the proxy's address. Grafana itself does not run here.
#[test]
fn grafana_settings_match_the_header_the_proxy_sets() {
    let ini =
        std::fs::read_to_string(Path::new(ROOT).join("docs/examples/apps/grafana.ini")).unwrap();
    let env =
        std::fs::read_to_string(Path::new(ROOT).join("docs/examples/apps/grafana.env")).unwrap();
    let mut section = "";
    let mut from_ini = std::collections::BTreeMap::new();
    for line in ini.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s;
            continue;
        }
        let (k, v) = line.split_once('=').expect("key = value");
        assert_eq!(section, "auth.proxy");
        from_ini.insert(k.trim().to_uppercase(), v.trim().to_string());
    }
    // Every GF_AUTH_PROXY_X=v is the ini's [auth.proxy] x = v (Grafana's documented mapping).
    let from_env: std::collections::BTreeMap<String, String> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.strip_prefix("GF_AUTH_PROXY_")
                    .expect("GF_AUTH_PROXY_")
                    .to_string(),
                v.to_string(),
            )
        })
        .collect();
    assert_eq!(from_ini, from_env);
    assert_eq!(from_ini["ENABLED"], "true");
    let (ok, nginx, _) = run_cli(&[
        "proxy-config",
        "--proxy",
        "nginx",
        "--app",
        "grafana",
        "--header-auth",
    ]);
    assert!(ok);
    assert!(nginx.contains(&format!(
        "proxy_set_header {}  $usher_user;",
        from_ini["HEADER_NAME"]
    )));
    let email_header = from_ini["HEADERS"].strip_prefix("Email:").unwrap();
    assert!(nginx.contains(&format!("proxy_set_header {email_header} $usher_email;")));
    assert_eq!(from_ini["WHITELIST"], "127.0.0.1");
}

/// Whether `src/` has a module `name` (`name.rs` or `name/mod.rs`) at any depth.
fn src_module_exists(dir: &Path, name: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let path = e.unwrap().path();
        if path.is_dir() {
            path.file_name().is_some_and(|n| n == name) || src_module_exists(&path, name)
        } else {
            path.file_name()
                .is_some_and(|n| *n == *format!("{name}.rs"))
        }
    })
}

/// docs/security.md names the test that holds each rule as `FILE::NAME` (a module of
/// tests/it/): every such name must be a test function that exists, so the security notes
/// cannot point at a test that was renamed or removed.
#[test]
fn security_notes_name_only_tests_that_exist() {
    let notes = std::fs::read_to_string(Path::new(ROOT).join("docs/security.md")).unwrap();
    let mut checked = 0;
    for quoted in notes.split('`').skip(1).step_by(2) {
        let Some((file, name)) = quoted.split_once("::") else {
            continue;
        };
        let is_word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        // `forwarded::tests` names a unit-test module in src/, not a test here.
        if !is_word(file) || !is_word(name) || name == "tests" {
            continue;
        }
        let it = Path::new(ROOT).join("tests/it");
        let Some(source) = [
            it.join(format!("{file}.rs")),
            it.join("cli").join(format!("{file}.rs")),
        ]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok()) else {
            // Not a test module: then it names code (`sso::run`), and that module must exist.
            assert!(
                src_module_exists(&Path::new(ROOT).join("src"), file),
                "docs/security.md names `{quoted}`: neither tests/it/{file}.rs nor a module in src/"
            );
            continue;
        };
        assert!(
            source.contains(&format!("fn {name}(")),
            "docs/security.md names `{quoted}`: no such test in tests/it/{file}.rs"
        );
        checked += 1;
    }
    assert!(
        checked >= 20,
        "the weaknesses table names its tests ({checked} found)"
    );
}

/// The `usher oidc client add …` commands of docs/examples/oidc/, each as one line of words
/// (backslash continuations joined, comments and `< file` redirections dropped).
fn client_add_commands(text: &str) -> Vec<Vec<String>> {
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("usher oidc client add "))
        .map(|l| {
            let l = l.split(" #").next().unwrap();
            let l = l.split(" < ").next().unwrap();
            words(l).into_iter().skip(1).collect()
        })
        .collect()
}

/// docs/oidc.md and its examples: every registration command a reader pastes is one Usher
/// accepts, and every Usher address in them is the issuer, the discovery URL or an endpoint the
/// discovery document announces (for `public_url` = https://usher.example.com).
#[tokio::test]
async fn oidc_examples_register_as_printed_and_name_only_announced_endpoints() {
    use crate::cli::{run_with, usher};
    let dir = Path::new(ROOT).join("docs/examples/oidc");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.push(Path::new(ROOT).join("docs/oidc.md"));

    let mut registered = 0;
    for file in &files {
        for args in client_add_commands(&std::fs::read_to_string(file).unwrap()) {
            let data = tempfile::tempdir().unwrap();
            let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
            args.extend(["--data-dir", data.path().to_str().unwrap()]);
            let stdin = args
                .contains(&"--secret-stdin")
                .then_some("a-secret-chosen-by-the-admin-0123456789abcdef\n");
            let run = run_with(usher(&args), stdin);
            assert!(
                run.success,
                "{}: usher {args:?}: {}",
                file.display(),
                run.stderr
            );
            registered += 1;
        }
    }
    assert!(registered >= 7, "one registration per app: {registered}");

    let app = TestApp::spawn().await;
    let issuer = "https://usher.example.com";
    let patch = serde_json::json!({ "public_url": issuer });
    app.core
        .update_settings(
            patch.as_object().unwrap(),
            &usher::auth::accounts::Acting::cli(),
        )
        .await
        .expect("settings saved")
        .expect("public_url accepted");
    let discovery: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], issuer);
    let mut known = vec![
        issuer.to_string(),
        format!("{issuer}/"),
        format!("{issuer}/.well-known/openid-configuration"),
    ];
    for (key, value) in discovery.as_object().unwrap() {
        if key.ends_with("_endpoint") || key == "jwks_uri" {
            known.push(value.as_str().unwrap().to_string());
        }
    }
    let mut seen = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (at, _) in text.match_indices(issuer) {
            let url: String = text[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"\"'`)<>,]|;".contains(*c))
                .collect();
            let url = url.split(['?', '#']).next().unwrap().trim_end_matches('.');
            assert!(
                known.iter().any(|k| k == url),
                "{}: {url} is not announced by discovery ({known:?})",
                file.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 10, "the examples name Usher's addresses: {seen}");
}
