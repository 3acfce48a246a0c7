//! The client's IP: the socket peer, or what a trusted proxy says in `X-Real-IP` /
//! `X-Forwarded-For`. Headers from anyone else are ignored.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderValue};
use ipnet::IpNet;

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

fn single(headers: &HeaderMap, name: &str) -> Option<IpAddr> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok().and_then(parse_ip),
        _ => None, // absent, or conflicting duplicates: believe neither
    }
}

/// Resolves the client IP for a request from `peer`.
///
/// From a trusted proxy: `X-Real-IP` when it is one valid address; otherwise `X-Forwarded-For`
/// walked from the right, skipping trusted hops, stopping at the first untrusted one (a client
/// can prepend anything, but cannot append after its proxy). Malformed entries end the walk.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !trusted(peer, proxies) {
        return peer;
    }
    if let Some(ip) = single(headers, "x-real-ip") {
        return ip;
    }
    let mut candidate = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .collect::<Vec<&HeaderValue>>();
    for value in hops.iter().rev() {
        let Ok(text) = value.to_str() else {
            return candidate;
        };
        for part in text.rsplit(',') {
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
}
