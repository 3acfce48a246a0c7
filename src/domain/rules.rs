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
use super::forwarded::without_params;
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
    let path = subject.path.map(PathForms::of);
    rules
        .iter()
        .find(|r| r.matches(subject, path.as_ref()))
        .map(|r| r.action)
}

/// One path in the forms rules compare it in: as sent, and with `;parameters` cut from every
/// segment (what Tomcat, Jetty, Spring and ASP.NET route by); deny rules see both lower-cased.
/// An allow rule must match both forms and a deny rule either, so a `;` can neither widen an
/// allow nor dodge a deny. Borrowed when there is nothing to change (the usual case: no
/// allocation).
#[derive(Debug)]
struct PathForms<'a> {
    sent: &'a str,
    cut: Cow<'a, str>,
    sent_lower: Cow<'a, str>,
    cut_lower: Cow<'a, str>,
}

impl<'a> PathForms<'a> {
    fn of(sent: &'a str) -> Self {
        let cut = without_params(sent);
        PathForms {
            sent,
            sent_lower: lower_case(Cow::Borrowed(sent)),
            cut_lower: lower_case(cut.clone()),
            cut,
        }
    }
}

fn lower_case(s: Cow<'_, str>) -> Cow<'_, str> {
    if !s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        return s;
    }
    Cow::Owned(s.chars().flat_map(char::to_lowercase).collect())
}

impl Rule {
    /// Allow rules match the path as written (case kept) in both its forms; deny rules (whose
    /// patterns are lower-cased when compiled) in either lower-cased form.
    fn matches(&self, s: &Subject<'_>, path: Option<&PathForms<'_>>) -> bool {
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
        let on = |path: &str| self.paths.iter().any(|pat| path_matches(pat, path));
        let path_ok = self.paths.is_empty()
            || path.map_or(unknown, |p| match self.action {
                Action::Allow => on(p.sent) && on(&p.cut),
                Action::Deny => on(&p.sent_lower) || on(&p.cut_lower),
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
    // Deny patterns compare with the lower-cased path forms, so they are lower-cased too.
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
    fn path_forms_borrow_when_nothing_changes() {
        let f = PathForms::of("/radarr/api/v3");
        assert!(matches!(
            (f.cut, f.sent_lower, f.cut_lower),
            (Cow::Borrowed(_), Cow::Borrowed(_), Cow::Borrowed(_))
        ));
        let f = PathForms::of("/A;b=1/C;d;e/f");
        assert_eq!(
            (f.cut.as_ref(), f.sent_lower.as_ref(), f.cut_lower.as_ref()),
            ("/A/C/f", "/a;b=1/c;d;e/f", "/a/c/f")
        );
        assert_eq!(PathForms::of("/ÄPI;x").cut_lower, "/äpi");
    }

    #[test]
    fn parameters_neither_widen_an_allow_nor_dodge_a_deny() {
        use crate::domain::forwarded::normalise_path;
        let rules = compile(&json!([
            {"action": "deny", "paths": ["/admin"]},
            {"action": "allow", "paths": ["/public", "/*.css"]},
        ]))
        .unwrap();
        let at = |uri: &str| {
            let path = normalise_path(uri).unwrap();
            first_match(&rules, &subject("10.0.0.1", None, None, Some(&path)))
        };
        for uri in [
            "/admin;x=1",
            "/ADMIN;x",
            "/admin%3bx",
            "/;x/admin",
            "/admin/;x",
            "/admin;x.css",
            "/admin;/public",
        ] {
            assert_eq!(at(uri), Some(Action::Deny), "{uri}");
        }
        for uri in [
            "/public;x/y",
            "/public;a=1",
            "/x;/public",
            "/secret;.css",
            "/a/b.css;v=2",
        ] {
            assert_eq!(
                at(uri),
                None,
                "{uri}: an allow rule must hold in both forms"
            );
        }
        for uri in ["/public/x", "/public/x;a=1", "/public/x;/y.css", "/x/a.css"] {
            assert_eq!(at(uri), Some(Action::Allow), "{uri}");
        }
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
