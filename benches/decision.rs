//! The proxy-auth decision without the network: URL parsing, cookie lookup, token hashing, the
//! group decision. `cargo bench --bench decision`.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use axum::http::{header, HeaderMap, HeaderValue};
use criterion::{criterion_group, criterion_main, Criterion};
use usher::domain::access::{decide, parse_request};
use usher::domain::forwarded;
use usher::domain::rules::{compile, first_match, Subject};
use usher::domain::session::hash_cookie_value;
use usher::domain::{SessionToken, SessionView};
use usher::http::client_ip::client_ip;
use usher::http::cookies::cookie_values;
use usher::metrics::{Metrics, ProxyAuthResult};

fn bench(c: &mut Criterion) {
    let token = SessionToken::generate();
    let mut headers = HeaderMap::new();
    let cookie = format!(
        "_ga=GA1.2.3; theme=dark; usher_session={}; tautulli_token_x=abc",
        token.expose()
    );
    headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
    headers.insert("x-real-ip", HeaderValue::from_static("192.168.1.20"));
    let proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    let view = SessionView::new(
        1,
        1,
        "alice".into(),
        Some("a@x".into()),
        0,
        "Admin".into(),
        false,
        i64::MAX,
        0,
    );

    c.bench_function("parse /api/v2/auth/4", |b| {
        b.iter(|| parse_request(black_box("/api/v2/auth/4"), None))
    });
    c.bench_function("parse ?group=4&whitelist=10.0.0.0/8", |b| {
        b.iter(|| {
            parse_request(
                black_box("/api/v2/auth"),
                Some(black_box("group=4&whitelist=10.0.0.0%2F8")),
            )
        })
    });
    c.bench_function("client ip via X-Real-IP", |b| {
        b.iter(|| client_ip(black_box(peer), &headers, &proxies))
    });
    c.bench_function("find cookie + sha256", |b| {
        b.iter(|| cookie_values(black_box(&headers), "usher_session").find_map(hash_cookie_value))
    });
    c.bench_function("forward auth: parse X-Forwarded-*", |b| {
        b.iter(|| {
            forwarded::parse(
                Some(black_box("GET")),
                Some("https"),
                Some(black_box("Grafana.Example.com")),
                Some(black_box("/d/abc/home?orgId=1&from=now-6h")),
            )
        })
    });
    let rules = compile(&serde_json::json!([
        {"action": "deny", "users": ["kid"], "hosts": ["overseerr.example.com"]},
        {"action": "allow", "hosts": ["grafana.example.com"], "paths": ["/public/*"]},
        {"action": "allow", "networks": ["192.168.1.0/24"], "hosts": ["*.example.com"], "paths": ["/lan"]},
        {"action": "deny", "paths": ["/private"]}
    ]))
    .unwrap();
    c.bench_function("proxy.rules: 4 rules, none match", |b| {
        let subject = Subject {
            ip: "10.0.0.9".parse().unwrap(),
            session: Some(&view),
            host: Some("grafana.example.com"),
            path: Some("/d/abc/home"),
        };
        b.iter(|| first_match(black_box(&rules), black_box(&subject)))
    });
    c.bench_function("whole decision (cache hit)", |b| {
        b.iter(|| {
            let req = parse_request(black_box("/api/v2/auth/0"), None).unwrap();
            let ip = client_ip(peer, &headers, &proxies);
            let hash = cookie_values(&headers, "usher_session").find_map(hash_cookie_value);
            (hash, decide(&req, ip, Some(&view)))
        })
    });
    // What metrics add to every proxy-auth request: two clock reads, a histogram observation
    // and a counter increment on handles made at start.
    let metrics = Metrics::new();
    c.bench_function("metrics: count one proxy-auth answer", |b| {
        b.iter(|| metrics.proxy_auth(black_box(ProxyAuthResult::User), Instant::now()))
    });
    c.bench_function("whole decision (cache hit) + metrics", |b| {
        b.iter(|| {
            let started = Instant::now();
            let req = parse_request(black_box("/api/v2/auth/0"), None).unwrap();
            let ip = client_ip(peer, &headers, &proxies);
            let hash = cookie_values(&headers, "usher_session").find_map(hash_cookie_value);
            let decision = decide(&req, ip, Some(&view));
            metrics.proxy_auth(ProxyAuthResult::User, started);
            (hash, decision)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
