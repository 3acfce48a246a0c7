//! The proxy-auth decision: which URL forms name which group and IP lists, and who passes.
//!
//! Organizr-compatible forms, all accepted by [`parse_request`]:
//! `/api/v2/auth/{group}`, `/api/v2/auth?group=N`, `/api/v2/auth-{group}`,
//! `/api/v2/organizr-auth/{group}`, the legacy `/api/?v1/auth&group=N`, each path form with an
//! optional `/{type}/{ips}` suffix and every form with optional `whitelist=`/`blacklist=` query
//! parameters. A group that is not a number is a tab name ([`parse_request_with`]): the tab's
//! group threshold applies. Anything malformed is refused, never guessed.

use std::borrow::Cow;
use std::net::IpAddr;

use ipnet::IpNet;

use super::group::{GroupId, GUEST};
use super::rules::Action;
use super::session::SessionView;

/// A parsed proxy-auth request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest<'a> {
    /// The highest group number allowed in.
    pub group: GroupId,
    /// Client IPs/CIDRs that pass without a session.
    pub allow: Option<Cow<'a, str>>,
    /// Client IPs/CIDRs that are refused even with a session.
    pub deny: Option<Cow<'a, str>>,
    /// `redirect=1`: forward auth (Caddy, Traefik) may answer a page load with a 302 to the
    /// sign-in page instead of 401. Never set in nginx snippets: nginx turns a 302 into a 500.
    pub redirect: bool,
}

/// Why a request could not be parsed; always answered with 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The answer to a proxy-auth request.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Passes without identity (allow-listed IP, or a guest at group 999).
    PassAnonymous,
    /// Passes as the session's user.
    PassUser,
    /// Refused.
    Refuse,
}

/// Parses the path and raw query of any accepted URL form. `path` must start at `/api`.
/// A group that is not a number is refused; see [`parse_request_with`] for tab names.
pub fn parse_request<'a>(
    path: &'a str,
    query: Option<&'a str>,
) -> Result<AuthRequest<'a>, Malformed> {
    parse_request_with(path, query, &|_| None)
}

/// [`parse_request`] where a group that is not a number is a tab name: `tab_group` answers
/// that tab's group threshold (unknown names are refused).
pub fn parse_request_with<'a>(
    path: &'a str,
    query: Option<&'a str>,
    tab_group: &dyn Fn(&str) -> Option<GroupId>,
) -> Result<AuthRequest<'a>, Malformed> {
    let mut req = AuthRequest {
        group: 0,
        allow: None,
        deny: None,
        redirect: false,
    };
    let mut path_group: Option<&str> = None;

    if let Some(rest) = path
        .strip_prefix("/api/v2/auth")
        .or_else(|| path.strip_prefix("/api/v2/organizr-auth"))
    {
        // `rest` is "", "/", "/{group}[/{type}/{ips}]" or (for auth-) "-{group}[/...]".
        let rest = match rest.strip_prefix('-') {
            Some(r) if path.starts_with("/api/v2/auth-") => r,
            Some(_) => return Err(Malformed),
            None if rest.is_empty() => rest,
            None => rest.strip_prefix('/').ok_or(Malformed)?,
        };
        if !rest.is_empty() {
            let mut parts = rest.splitn(3, '/');
            path_group = parts.next().filter(|s| !s.is_empty());
            match (parts.next(), parts.next()) {
                (None, _) | (Some(""), None) => {}
                (Some(kind), Some(ips)) if !ips.is_empty() => {
                    set_list(&mut req, kind, Cow::Borrowed(ips))?
                }
                _ => return Err(Malformed),
            }
        }
    } else if path == "/api/" || path == "/api" {
        // Legacy v1: `/api/?v1/auth&group=N` — the query starts with the pseudo-path.
        let q = query.ok_or(Malformed)?;
        let rest = q.strip_prefix("v1/auth").ok_or(Malformed)?;
        if !(rest.is_empty() || rest.starts_with('&')) {
            return Err(Malformed);
        }
        return parse_query(req, None, Some(rest.trim_start_matches('&')), tab_group);
    } else {
        return Err(Malformed);
    }
    parse_query(req, path_group, query, tab_group)
}

fn parse_query<'a>(
    mut req: AuthRequest<'a>,
    path_group: Option<&'a str>,
    query: Option<&'a str>,
    tab_group: &dyn Fn(&str) -> Option<GroupId>,
) -> Result<AuthRequest<'a>, Malformed> {
    let mut query_group: Option<Cow<'a, str>> = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "group" if query_group.is_some() => return Err(Malformed),
            "group" => query_group = Some(value),
            "whitelist" | "allow" => set_list(&mut req, "allow", value)?,
            "blacklist" | "deny" => set_list(&mut req, "deny", value)?,
            "redirect" if req.redirect => return Err(Malformed),
            "redirect" if value == "1" => req.redirect = true,
            "redirect" => return Err(Malformed),
            _ => {} // Other parameters (cache busters, tracking) are ignored, as nginx may add them.
        }
    }
    req.group = match (path_group, query_group.as_deref()) {
        (Some(p), Some(q)) if p != q => return Err(Malformed),
        // The path segment is still percent-encoded: a name is decoded, a number never is.
        (Some(p), _) => group_or_tab(p, true, tab_group)?,
        (None, Some(q)) => group_or_tab(q, false, tab_group)?,
        (None, None) => 0, // No group named: admins only, the most careful reading.
    };
    Ok(req)
}

/// A group number, or (Organizr's `/api/v2/auth/{tab name}`) the group of the tab of that name.
/// Only an all-digit value as sent is a number (tab names may not be all digits), so `%34` is
/// a name, not group 4.
fn group_or_tab(
    g: &str,
    encoded: bool,
    tab_group: &dyn Fn(&str) -> Option<GroupId>,
) -> Result<GroupId, Malformed> {
    if g.bytes().all(|b| b.is_ascii_digit()) {
        return parse_group(g);
    }
    let name = if encoded {
        percent_decode(g)?
    } else {
        Cow::Borrowed(g)
    };
    tab_group(&name).ok_or(Malformed)
}

/// Decodes `%XX` escapes of a path segment (a tab name like `My%20App`); `+` stays a plus.
fn percent_decode(s: &str) -> Result<Cow<'_, str>, Malformed> {
    if !s.contains('%') {
        return Ok(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(Malformed)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| Malformed)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| Malformed)
}

fn set_list<'a>(req: &mut AuthRequest<'a>, kind: &str, ips: Cow<'a, str>) -> Result<(), Malformed> {
    let slot = match kind {
        "allow" | "white" | "whitelist" | "w" | "wl" => &mut req.allow,
        "deny" | "black" | "blacklist" | "b" | "bl" => &mut req.deny,
        _ => return Err(Malformed),
    };
    if ips.is_empty() || slot.is_some() {
        return Err(Malformed);
    }
    // Validate now so a typo refuses every request instead of silently matching nothing.
    ip_list_contains(&ips, IpAddr::from([0, 0, 0, 0]))?;
    *slot = Some(ips);
    Ok(())
}

/// A group number 0–999 in plain decimal.
pub fn parse_group(s: &str) -> Result<GroupId, Malformed> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed);
    }
    s.parse().map_err(|_| Malformed)
}

/// Whether `ip` is in a comma-separated list of IPs and CIDRs; `Err` when an entry is invalid.
pub fn ip_list_contains(list: &str, ip: IpAddr) -> Result<bool, Malformed> {
    let ip = canonical(ip);
    let mut found = false;
    for entry in list.split(',').map(str::trim) {
        let hit = if entry.contains('/') {
            entry.parse::<IpNet>().map_err(|_| Malformed)?.contains(&ip)
        } else {
            entry.parse::<IpAddr>().map_err(|_| Malformed)? == ip
        };
        found |= hit;
    }
    Ok(found)
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) compare as the IPv4 address they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Decides a parsed request for a client IP and the session found (if any, already checked to
/// be unexpired).
pub fn decide(req: &AuthRequest<'_>, client_ip: IpAddr, session: Option<&SessionView>) -> Decision {
    decide_with_rule(req, client_ip, session, None)
}

/// [`decide`] with the outcome of the `proxy.rules` setting: the URL's allow list first, then
/// its deny list, then the first matching rule, then the URL's group threshold. A locked account
/// never passes as itself.
pub fn decide_with_rule(
    req: &AuthRequest<'_>,
    client_ip: IpAddr,
    session: Option<&SessionView>,
    rule: Option<Action>,
) -> Decision {
    if let Some(allow) = &req.allow {
        if ip_list_contains(allow, client_ip) == Ok(true) {
            return Decision::PassAnonymous;
        }
    }
    if let Some(deny) = &req.deny {
        if ip_list_contains(deny, client_ip) != Ok(false) {
            return Decision::Refuse;
        }
    }
    match (rule, session) {
        (Some(Action::Deny), _) => return Decision::Refuse,
        (Some(Action::Allow), Some(s)) if !s.locked => return Decision::PassUser,
        (Some(Action::Allow), None) => return Decision::PassAnonymous,
        _ => {}
    }
    match session {
        Some(s) if !s.locked && s.group_id <= req.group => Decision::PassUser,
        None if req.group >= GUEST => Decision::PassAnonymous,
        _ => Decision::Refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(path: &str, query: Option<&str>) -> Result<GroupId, Malformed> {
        parse_request(path, query).map(|r| r.group)
    }

    #[test]
    fn url_forms() {
        assert_eq!(group("/api/v2/auth/4", None), Ok(4));
        assert_eq!(group("/api/v2/auth/998", None), Ok(998));
        assert_eq!(group("/api/v2/auth", Some("group=1")), Ok(1));
        assert_eq!(
            group("/api/v2/auth", Some("group=1&whitelist=10.0.0.1")),
            Ok(1)
        );
        assert_eq!(group("/api/v2/auth-3", None), Ok(3));
        assert_eq!(group("/api/v2/organizr-auth/2", None), Ok(2));
        assert_eq!(group("/api/", Some("v1/auth&group=4")), Ok(4));
        assert_eq!(group("/api/v2/auth/", None), Ok(0));
        assert_eq!(group("/api/v2/auth/4", Some("group=4")), Ok(4));
        assert!(
            parse_request("/api/v2/auth/4", Some("redirect=1"))
                .unwrap()
                .redirect
        );
        assert!(!parse_request("/api/v2/auth/4", None).unwrap().redirect);
    }

    #[test]
    fn malformed_forms() {
        for (p, q) in [
            ("/api/v2/auth/abc", None),
            ("/api/v2/auth/-1", None),
            ("/api/v2/auth/1000", None),
            ("/api/v2/auth/0001", None),
            ("/api/v2/auth/4/maybe/1.2.3.4", None),
            ("/api/v2/auth/4/allow/", None),
            ("/api/v2/auth/4/allow/not-an-ip", None),
            ("/api/v2/auth/4", Some("group=0")),
            ("/api/v2/auth", Some("group=1&group=2")),
            ("/api/v2/authx", None),
            ("/api/v2/organizr-auth-1", None),
            ("/api/", Some("v1/authx")),
            ("/api/v2/auth", Some("group=%00")),
            ("/api/v2/auth/4", Some("redirect=yes")),
            ("/api/v2/auth/4", Some("redirect=1&redirect=1")),
        ] {
            assert_eq!(group(p, q), Err(Malformed), "{p} {q:?}");
        }
    }

    #[test]
    fn tab_names_resolve_through_the_index() {
        let tabs = |name: &str| (name == "My App" || name == "plex").then_some(3);
        let g = |p, q| parse_request_with(p, q, &tabs).map(|r| r.group);
        assert_eq!(g("/api/v2/auth/plex", None), Ok(3));
        assert_eq!(g("/api/v2/auth/My%20App", None), Ok(3));
        assert_eq!(g("/api/v2/auth", Some("group=My+App")), Ok(3));
        assert_eq!(g("/api/v2/auth-plex/allow/10.0.0.1", None), Ok(3));
        assert_eq!(g("/api/v2/auth/4", None), Ok(4));
        for (p, q) in [
            ("/api/v2/auth/nope", None),
            ("/api/v2/auth/%34", None),
            ("/api/v2/auth/%zz", None),
            ("/api/v2/auth/plex", Some("group=4")),
            ("/api/v2/auth", Some("group=")),
        ] {
            assert_eq!(g(p, q), Err(Malformed), "{p} {q:?}");
        }
    }

    #[test]
    fn lists_in_path_and_query() {
        let r = parse_request("/api/v2/auth/0/wl/10.0.0.0/8,192.168.1.5", None).unwrap();
        assert_eq!(r.allow.as_deref(), Some("10.0.0.0/8,192.168.1.5"));
        let r = parse_request("/api/v2/auth/0/bl/1.2.3.4", Some("whitelist=10.0.0.0%2F8")).unwrap();
        assert_eq!(r.deny.as_deref(), Some("1.2.3.4"));
        assert_eq!(r.allow.as_deref(), Some("10.0.0.0/8"));
        assert!(parse_request("/api/v2/auth/0/allow/1.2.3.4", Some("whitelist=1.1.1.1")).is_err());
    }

    fn view(group: GroupId, locked: bool) -> SessionView {
        SessionView::new(
            1,
            1,
            "u".into(),
            None,
            group,
            "g".into(),
            locked,
            i64::MAX,
            0,
        )
    }

    #[test]
    fn decisions() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let at = |g| {
            parse_request("/api/v2/auth/x", None).unwrap_or(AuthRequest {
                group: g,
                allow: None,
                deny: None,
                redirect: false,
            })
        };
        assert_eq!(
            decide(&at(4), ip, Some(&view(4, false))),
            Decision::PassUser
        );
        assert_eq!(decide(&at(0), ip, Some(&view(4, false))), Decision::Refuse);
        assert_eq!(decide(&at(4), ip, Some(&view(4, true))), Decision::Refuse);
        assert_eq!(
            decide(&at(998), ip, Some(&view(997, false))),
            Decision::PassUser
        );
        assert_eq!(decide(&at(998), ip, None), Decision::Refuse);
        assert_eq!(decide(&at(999), ip, None), Decision::PassAnonymous);
        assert_eq!(
            decide(&at(999), ip, Some(&view(4, false))),
            Decision::PassUser
        );
        let allow = parse_request("/api/v2/auth/0/allow/10.0.0.0/8", None).unwrap();
        assert_eq!(decide(&allow, ip, None), Decision::PassAnonymous);
        let deny = parse_request("/api/v2/auth/999/deny/10.1.2.3", None).unwrap();
        assert_eq!(decide(&deny, ip, Some(&view(0, false))), Decision::Refuse);
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(decide(&deny, mapped, None), Decision::Refuse);
    }

    #[test]
    fn rules_come_after_the_url_lists_and_before_the_threshold() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let admin_only = parse_request("/api/v2/auth/0", None).unwrap();
        let allow = Some(Action::Allow);
        let deny = Some(Action::Deny);
        let user = view(4, false);
        assert_eq!(
            decide_with_rule(&admin_only, ip, Some(&user), allow),
            Decision::PassUser
        );
        assert_eq!(
            decide_with_rule(&admin_only, ip, None, allow),
            Decision::PassAnonymous
        );
        assert_eq!(
            decide_with_rule(&admin_only, ip, Some(&view(4, true)), allow),
            Decision::Refuse
        );
        assert_eq!(
            decide_with_rule(&admin_only, ip, Some(&view(0, false)), deny),
            Decision::Refuse
        );
        let listed = parse_request("/api/v2/auth/0/allow/10.0.0.0/8", None).unwrap();
        assert_eq!(
            decide_with_rule(&listed, ip, None, deny),
            Decision::PassAnonymous
        );
        let denied = parse_request("/api/v2/auth/999/deny/10.1.2.3", None).unwrap();
        assert_eq!(decide_with_rule(&denied, ip, None, allow), Decision::Refuse);
    }
}
