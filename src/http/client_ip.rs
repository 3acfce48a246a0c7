//! The client's IP: the socket peer, or what a trusted proxy says in `X-Forwarded-For` (or
//! `X-Real-IP` without it). Headers from anyone else are ignored.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::headers::{single, text, RequestHeaders};

use crate::domain::access::canonical;

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(&ip))
}

/// Whether the socket peer is one of the trusted proxies (IPv4-mapped IPv6 compared as IPv4).
pub fn is_trusted(peer: IpAddr, proxies: &[IpNet]) -> bool {
    trusted(canonical(peer), proxies)
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .map(canonical)
}

/// The address in a header sent exactly once; `None` when absent, not an address, or
/// duplicated (conflicting duplicates: believe neither).
fn single_ip<H: RequestHeaders + ?Sized>(headers: &H, name: &str) -> Option<IpAddr> {
    single(headers, name).ok().flatten().and_then(parse_ip)
}

/// Resolves the client IP for a request from `peer`.
///
/// From a trusted proxy: `X-Forwarded-For` walked from the right, skipping trusted hops,
/// stopping at the first untrusted one (a client can prepend anything, but cannot append after
/// its proxy); malformed entries end the walk. `X-Real-IP` (one valid address) only when there
/// is no `X-Forwarded-For`: some proxies pass a client's own `X-Real-IP` through unchanged.
pub fn client_ip<H: RequestHeaders + ?Sized>(
    peer: IpAddr,
    headers: &H,
    proxies: &[IpNet],
) -> IpAddr {
    let peer = canonical(peer);
    if !trusted(peer, proxies) {
        return peer;
    }
    let mut hops = headers.values("x-forwarded-for").rev().peekable();
    if hops.peek().is_none() {
        return single_ip(headers, "x-real-ip").unwrap_or(peer);
    }
    let mut candidate = peer;
    for value in hops {
        let Some(list) = text(value) else {
            return candidate;
        };
        for part in list.rsplit(',') {
            let Some(ip) = parse_ip(part) else {
                return candidate;
            };
            candidate = ip;
            if !trusted(ip, proxies) {
                return ip;
            }
        }
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn nets() -> Vec<IpNet> {
        vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
    }

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn untrusted_peer_headers_ignored() {
        let ip = client_ip(
            "203.0.113.9".parse().unwrap(),
            &h(&[("x-forwarded-for", "10.0.0.1"), ("x-real-ip", "10.0.0.1")]),
            &nets(),
        );
        assert_eq!(ip.to_string(), "203.0.113.9");
    }

    #[test]
    fn trusted_peer_headers_used() {
        let p: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(p, &h(&[("x-real-ip", "198.51.100.7")]), &nets()).to_string(),
            "198.51.100.7"
        );
        assert_eq!(
            client_ip(
                p,
                &h(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7")]),
                &nets()
            )
            .to_string(),
            "198.51.100.7"
        );
        assert_eq!(
            client_ip(
                p,
                &h(&[("x-forwarded-for", "198.51.100.7, 127.0.0.5")]),
                &nets()
            )
            .to_string(),
            "198.51.100.7"
        );
        assert_eq!(
            client_ip(p, &h(&[("x-forwarded-for", "garbage, 127.0.0.5")]), &nets()).to_string(),
            "127.0.0.5"
        );
        assert_eq!(
            client_ip(
                p,
                &h(&[("x-real-ip", "1.1.1.1"), ("x-real-ip", "2.2.2.2")]),
                &nets()
            )
            .to_string(),
            "127.0.0.1"
        );
        assert_eq!(
            client_ip(
                "::ffff:127.0.0.1".parse().unwrap(),
                &h(&[("x-real-ip", "198.51.100.7")]),
                &nets()
            )
            .to_string(),
            "198.51.100.7"
        );
    }

    #[test]
    fn forwarded_for_wins_over_a_passed_through_real_ip() {
        let p: IpAddr = "127.0.0.1".parse().unwrap();
        // Caddy appends the client to X-Forwarded-For but passes the client's X-Real-IP on.
        assert_eq!(
            client_ip(
                p,
                &h(&[
                    ("x-real-ip", "10.9.9.9"),
                    ("x-forwarded-for", "198.51.100.7")
                ]),
                &nets()
            )
            .to_string(),
            "198.51.100.7"
        );
        // Every hop trusted: the leftmost, never the X-Real-IP beside it.
        assert_eq!(
            client_ip(
                p,
                &h(&[("x-real-ip", "10.9.9.9"), ("x-forwarded-for", "127.0.0.2")]),
                &nets()
            )
            .to_string(),
            "127.0.0.2"
        );
        // Several header lines are walked from the last one back.
        assert_eq!(
            client_ip(
                p,
                &h(&[
                    ("x-forwarded-for", "203.0.113.1"),
                    ("x-forwarded-for", "198.51.100.7, 127.0.0.3"),
                ]),
                &nets()
            )
            .to_string(),
            "198.51.100.7"
        );
    }
}
