//! Access rules beyond one group number: the `proxy.rules` setting, a list of
//! `{"action": "allow"|"deny", "users", "groups", "networks", "hosts", "paths"}` evaluated in
//! order on every proxy-auth request; the first rule whose conditions all hold decides.
//!
//! Compiled once when the settings snapshot is built, so the hot path only compares. A rule
//! about hosts or paths cannot be checked when the proxy did not say which host or path was
//! asked for: an `allow` rule then does not match, a `deny` rule does (fail closed).

use std::borrow::Cow;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::access::canonical;
use super::session::SessionView;
use super::GroupId;

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Let in: as the signed-in person, or anonymously when nobody is signed in.
    Allow,
    /// Refuse, whoever it is.
    Deny,
}

/// One compiled rule; an empty condition list means "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    users: Vec<String>,
    groups: Vec<GroupMatch>,
    networks: Vec<IpNet>,
    hosts: Vec<String>,
    paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GroupMatch {
    Id(GroupId),
    Name(String),
}

/// What a rule is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub ip: IpAddr,
    pub session: Option<&'a SessionView>,
    /// Host name (lower case, no port) when the proxy said it.
    pub host: Option<&'a str>,
    /// Normalised path when the proxy said it.
    pub path: Option<&'a str>,
}

/// The action of the first matching rule, if any.
pub fn first_match(rules: &[Rule], subject: &Subject<'_>) -> Option<Action> {
    let deny_path = subject.path.map(deny_form);
    rules
        .iter()
        .find(|r| r.matches(subject, deny_path.as_deref()))
        .map(|r| r.action)
}

/// The path as `deny` rules see it: lower case, and `;params` cut from every segment
/// (`/Radarr/API;x/v3` → `/radarr/api/v3`), because ASP.NET and Java apps route those to the
/// same handler. Borrowed when there is nothing to change (the usual case: no allocation).
pub fn deny_form(path: &str) -> Cow<'_, str> {
    if !path
        .bytes()
        .any(|b| b.is_ascii_uppercase() || b == b';' || !b.is_ascii())
    {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let name = segment.split_once(';').map_or(segment, |(name, _)| name);
        out.extend(name.chars().flat_map(char::to_lowercase));
    }
    Cow::Owned(out)
}

impl Rule {
    /// `deny_path` is the subject's path in [`deny_form`], used by deny rules (whose patterns
    /// are lower-cased when compiled); allow rules match the path exactly as it came.
    fn matches(&self, s: &Subject<'_>, deny_path: Option<&str>) -> bool {
        let unknown = self.action == Action::Deny; // what an unanswerable condition counts as
        let user_ok = self.users.is_empty()
            || s.session
                .is_some_and(|v| self.users.iter().any(|u| same_name(u, &v.username)));
        let group_ok = self.groups.is_empty()
            || s.session.is_some_and(|v| {
                self.groups.iter().any(|g| match g {
                    GroupMatch::Id(id) => *id == v.group_id,
                    GroupMatch::Name(n) => same_name(n, &v.group_name),
                })
            });
        let ip = canonical(s.ip);
        let net_ok = self.networks.is_empty() || self.networks.iter().any(|n| n.contains(&ip));
        let host_ok = self.hosts.is_empty()
            || s.host
                .map_or(unknown, |h| self.hosts.iter().any(|p| host_matches(p, h)));
        let path = if self.action == Action::Deny {
            deny_path
        } else {
            s.path
        };
        let path_ok = self.paths.is_empty()
            || path.map_or(unknown, |p| {
                self.paths.iter().any(|pat| path_matches(pat, p))
            });
        user_ok && group_ok && net_ok && host_ok && path_ok
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// `media.example.com` exactly, or `*.example.com` for any subdomain.
fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .strip_suffix(parent)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => pattern == host,
    }
}

/// A pattern with `*` is a glob (`*` matches anything, `/` included); otherwise a prefix that
/// ends at a segment boundary (`/sonarr` matches `/sonarr` and `/sonarr/x`, not `/sonarrx`).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    if pattern.contains('*') {
        return glob(pattern.as_bytes(), path.as_bytes());
    }
    match path.strip_prefix(pattern) {
        Some(rest) => pattern.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

const FIELDS: &[&str] = &["action", "users", "groups", "networks", "hosts", "paths"];

/// Compiles the setting's JSON; the error names the rule (`rules[2].networks: …`).
pub fn compile(value: &Value) -> Result<Vec<Rule>, String> {
    const EXAMPLE: &str = r#"[{"action":"allow","networks":["192.168.1.0/24"]}]"#;
    let items = value
        .as_array()
        .ok_or_else(|| format!("expected a list of rules such as {EXAMPLE}"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            compile_one(item).map_err(|(field, why)| format!("rules[{i}].{field}: {why}"))
        })
        .collect()
}

fn compile_one(item: &Value) -> Result<Rule, (&'static str, String)> {
    let obj = item
        .as_object()
        .ok_or(("action", "each rule must be an object".to_string()))?;
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err((
            "action",
            format!("unknown field `{k}` (known: {})", FIELDS.join(", ")),
        ));
    }
    let action = match obj.get("action").and_then(Value::as_str) {
        Some("allow") => Action::Allow,
        Some("deny") => Action::Deny,
        _ => return Err(("action", "must be \"allow\" or \"deny\"".into())),
    };
    let users = strings(obj.get("users"), "users")?
        .into_iter()
        .map(|u| {
            if u.is_empty() {
                Err(("users", "a user name cannot be empty".to_string()))
            } else {
                Ok(u)
            }
        })
        .collect::<Result<_, _>>()?;
    let groups = match obj.get("groups") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|g| match g {
                Value::Number(n) => n
                    .as_i64()
                    .filter(|n| (0..=999).contains(n))
                    .map(GroupMatch::Id)
                    .ok_or(("groups", format!("{n} is not a group number 0-999"))),
                Value::String(s) if !s.trim().is_empty() => Ok(GroupMatch::Name(s.trim().into())),
                other => Err(("groups", format!("{other} is not a group number or name"))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(("groups", "expected a list".into())),
    };
    let networks = strings(obj.get("networks"), "networks")?
        .iter()
        .map(|n| {
            n.parse::<IpNet>()
                .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                .map(|net| IpNet::new(canonical(net.network()), net.prefix_len()).unwrap_or(net))
                .map_err(|_| ("networks", format!("{n:?} is not an IP address or CIDR")))
        })
        .collect::<Result<_, _>>()?;
    let hosts = strings(obj.get("hosts"), "hosts")?
        .into_iter()
        .map(|h| {
            let h = h.trim_end_matches('.').to_ascii_lowercase();
            let name = h.strip_prefix("*.").unwrap_or(&h);
            let ok = !name.is_empty()
                && name.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            if ok {
                Ok(h)
            } else {
                Err(("hosts", format!("{h:?} is not a host name or *.domain")))
            }
        })
        .collect::<Result<_, _>>()?;
    let paths: Vec<String> = strings(obj.get("paths"), "paths")?
        .into_iter()
        .map(|p| {
            if p.starts_with('/') && !p.contains("..") && !p.bytes().any(|b| b < b' ' || b == b'\\')
            {
                Ok(p)
            } else {
                Err((
                    "paths",
                    format!("{p:?} must start with / (a prefix, or a glob with *)"),
                ))
            }
        })
        .collect::<Result<_, _>>()?;
    // Deny patterns compare with the path in deny_form, so they are lower-cased the same way.
    let paths = match action {
        Action::Deny => paths
            .into_iter()
            .map(|p| p.chars().flat_map(char::to_lowercase).collect())
            .collect(),
        Action::Allow => paths,
    };
    Ok(Rule {
        action,
        users,
        groups,
        networks,
        hosts,
        paths,
    })
}

fn strings(v: Option<&Value>, field: &'static str) -> Result<Vec<String>, (&'static str, String)> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(|s| s.trim().to_string())
                    .ok_or((field, format!("{i} is not a string")))
            })
            .collect(),
        Some(_) => Err((field, "expected a list of strings".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(name: &str, group: GroupId, group_name: &str) -> SessionView {
        SessionView::new(
            1,
            1,
            name.into(),
            None,
            group,
            group_name.into(),
            false,
            i64::MAX,
            0,
        )
    }

    fn subject<'a>(
        ip: &str,
        session: Option<&'a SessionView>,
        host: Option<&'a str>,
        path: Option<&'a str>,
    ) -> Subject<'a> {
        Subject {
            ip: ip.parse().unwrap(),
            session,
            host,
            path,
        }
    }

    #[test]
    fn first_match_wins() {
        let rules = compile(&json!([
            {"action": "deny", "users": ["Mallory"]},
            {"action": "allow", "networks": ["192.168.1.0/24"], "paths": ["/public"]},
            {"action": "allow", "groups": [7, "Family"], "hosts": ["*.example.com"]},
            {"action": "deny", "paths": ["/admin/*"]},
        ]))
        .unwrap();
        let mallory = view("mallory", 0, "Admin");
        let family = view("kim", 12, "family");
        let lan = "192.168.1.9";
        assert_eq!(
            first_match(&rules, &subject(lan, Some(&mallory), None, Some("/public"))),
            Some(Action::Deny)
        );
        assert_eq!(
            first_match(&rules, &subject(lan, None, None, Some("/public/x"))),
            Some(Action::Allow)
        );
        assert_eq!(
            first_match(&rules, &subject(lan, None, None, Some("/publicity"))),
            None
        );
        assert_eq!(
            first_match(&rules, &subject("10.0.0.1", None, None, Some("/public"))),
            None
        );
        // Path unknown: the allow rule cannot match, the deny rule does.
        assert_eq!(
            first_match(&rules, &subject(lan, None, None, None)),
            Some(Action::Deny)
        );
        assert_eq!(
            first_match(
                &rules,
                &subject(
                    "10.0.0.1",
                    Some(&family),
                    Some("tv.example.com"),
                    Some("/x")
                )
            ),
            Some(Action::Allow)
        );
        assert_eq!(
            first_match(
                &rules,
                &subject("10.0.0.1", Some(&family), Some("example.com"), Some("/x"))
            ),
            None
        );
        assert_eq!(
            first_match(
                &rules,
                &subject("::ffff:192.168.1.3", None, None, Some("/public"))
            ),
            Some(Action::Allow)
        );
    }

    #[test]
    fn globs_and_prefixes() {
        assert!(path_matches("/api/*/status", "/api/v2/status"));
        assert!(path_matches("/*.css", "/a/b.css"));
        assert!(!path_matches("/api/*/status", "/api/v2/status/x"));
        assert!(path_matches("/sonarr/", "/sonarr/x"));
        assert!(!path_matches("/sonarr", "/sonarrx"));
    }

    #[test]
    fn deny_paths_ignore_case_and_params_but_allow_paths_stay_strict() {
        let deny =
            compile(&json!([{"action": "deny", "paths": ["/radarr/api", "/Admin/*"]}])).unwrap();
        let at = |path| first_match(&deny, &subject("10.0.0.1", None, None, Some(path)));
        for path in [
            "/radarr/api",
            "/radarr/api/v3",
            "/radarr/API/v3",
            "/RADARR/Api",
            "/radarr/api;x/v3",
            "/radarr;jsessionid=1/api/v3",
            "/radarr/api;",
            "/admin/users",
            "/ADMIN;x/users",
        ] {
            assert_eq!(at(path), Some(Action::Deny), "{path}");
        }
        for path in ["/radarr/apix", "/radarr/ap;i/v3", "/sonarr/api"] {
            assert_eq!(at(path), None, "{path}");
        }
        let allow = compile(&json!([{"action": "allow", "paths": ["/public"]}])).unwrap();
        let at = |path| first_match(&allow, &subject("10.0.0.1", None, None, Some(path)));
        assert_eq!(at("/public/x"), Some(Action::Allow));
        for path in ["/PUBLIC/x", "/public;x/y", "/Public"] {
            assert_eq!(at(path), None, "{path}: allow rules match exactly");
        }
    }

    #[test]
    fn deny_form_borrows_when_nothing_changes() {
        assert!(matches!(deny_form("/radarr/api/v3"), Cow::Borrowed(_)));
        assert_eq!(deny_form("/A;b=1/C;d;e/f"), "/a/c/f");
        assert_eq!(deny_form("/ÄPI;x"), "/äpi");
    }

    #[test]
    fn errors_name_the_rule_and_field() {
        for (rules, expected) in [
            (
                json!([{"action": "allow"}, {"action": "maybe"}]),
                "rules[1].action",
            ),
            (
                json!([{"action": "allow", "networks": ["10.0.0.0/33"]}]),
                "rules[0].networks",
            ),
            (
                json!([{"action": "deny", "paths": ["admin"]}]),
                "rules[0].paths",
            ),
            (
                json!([{"action": "deny", "groups": [1000]}]),
                "rules[0].groups",
            ),
            (
                json!([{"action": "deny", "hosts": ["a b"]}]),
                "rules[0].hosts",
            ),
            (
                json!([{"action": "deny", "user": ["x"]}]),
                "unknown field `user`",
            ),
            (json!({"action": "deny"}), "expected a list"),
        ] {
            let err = compile(&rules).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
