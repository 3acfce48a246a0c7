//! Portal tabs: what each group sees, Organizr's visibility rule, the checks on what an admin
//! types, and the name → group index the proxy-auth hot path reads.

use std::collections::HashMap;

use serde::Serialize;

use super::group::{GroupId, GUEST};
use super::user::fold;

/// Longest tab name.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest URL or image URL.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest category.
pub const MAX_CATEGORY_CHARS: usize = 64;

/// How the portal opens a tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TabKind {
    /// Embedded in the portal.
    Iframe,
    /// A new browser window or tab.
    NewWindow,
}

impl TabKind {
    /// The stored and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            TabKind::Iframe => "iframe",
            TabKind::NewWindow => "new_window",
        }
    }

    /// Parses the stored and JSON name.
    pub fn parse(s: &str) -> Option<TabKind> {
        match s {
            "iframe" => Some(TabKind::Iframe),
            "new_window" => Some(TabKind::NewWindow),
            _ => None,
        }
    }
}

/// A row of the tabs table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tab {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub icon: Option<String>,
    /// The highest group number that sees the tab (Organizr's `group_id`).
    pub group_id: GroupId,
    /// The lowest group number that sees the tab (Organizr's `group_id_max`, default 0).
    pub group_id_max: GroupId,
    #[serde(rename = "type")]
    pub kind: TabKind,
    pub order: i64,
    pub category: Option<String>,
    pub enabled: bool,
}

impl Tab {
    /// Organizr's rule: `group_id >= group AND group_id_max <= group AND enabled`.
    pub fn visible_to(&self, group: GroupId) -> bool {
        self.enabled && self.group_id >= group && self.group_id_max <= group
    }
}

/// A value an admin typed that cannot be saved, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    /// A refusal of `field` for `reason`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        FieldError {
            field,
            reason: reason.into(),
        }
    }
}

/// A tab name: 1–64 characters, no control characters, not only digits (a proxy-auth URL
/// `/api/v2/auth/4` must always mean group 4, never a tab called "4").
pub fn validate_name(name: &str) -> Result<(), FieldError> {
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || name.trim() != name {
        return Err(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters without spaces at either end"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "may not contain control characters",
        ));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new(
            "name",
            "may not be only digits: proxy-auth URLs read a number as a group",
        ));
    }
    Ok(())
}

/// A link target: an `http://` or `https://` URL with a host, or a path on this host starting
/// with one `/`. Everything else (`javascript:`, `data:`, `//host`, `\\host`) is refused.
pub fn validate_url(field: &'static str, url: &str) -> Result<(), FieldError> {
    let refuse = || {
        FieldError::new(
            field,
            "must be an http:// or https:// URL, or a path on this host starting with /",
        )
    };
    if url.is_empty()
        || url.chars().count() > MAX_URL_CHARS
        || url
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(refuse());
    }
    if let Some(rest) = url.strip_prefix('/') {
        // `//host/…` is protocol-relative: another site, not a path.
        return if rest.starts_with('/') {
            Err(refuse())
        } else {
            Ok(())
        };
    }
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && has_plain_host(&u) => Ok(()),
        _ => Err(refuse()),
    }
}

/// True when the URL's host is an IP address or a name of letters, digits, `-`, `_` and `.`:
/// the url crate lets `;`, `,` and `*` through in host names, and a tab's origin is written
/// into the portal's Content-Security-Policy, where those would add or widen directives.
pub fn has_plain_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => true,
        Some(url::Host::Domain(d)) => {
            !d.is_empty()
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        None => false,
    }
}

/// An icon: an image URL (same rule as the tab URL) or an icon name of letters, digits,
/// spaces, `-`, `_` and `.` (e.g. `fa fa-film`).
pub fn validate_icon(icon: &str) -> Result<(), FieldError> {
    if icon.contains('/') || icon.contains(':') {
        return validate_url("icon", icon);
    }
    let ok = !icon.is_empty()
        && icon.chars().count() <= MAX_NAME_CHARS
        && icon
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "icon",
            "must be an image URL or an icon name of letters, digits, spaces, '-', '_' and '.'",
        ))
    }
}

/// A category: up to 64 characters without control characters.
pub fn validate_category(category: &str) -> Result<(), FieldError> {
    if category.chars().count() > MAX_CATEGORY_CHARS || category.chars().any(char::is_control) {
        return Err(FieldError::new(
            "category",
            format!("must be at most {MAX_CATEGORY_CHARS} characters without control characters"),
        ));
    }
    Ok(())
}

/// The group range of a tab: both 0–999, and `group_id_max` (the most privileged group that
/// sees it) not above `group_id` (the least privileged), or nobody would see it.
pub fn validate_groups(group_id: GroupId, group_id_max: GroupId) -> Result<(), FieldError> {
    if !(0..=GUEST).contains(&group_id) {
        return Err(FieldError::new("group_id", "must be a group number 0–999"));
    }
    if !(0..=GUEST).contains(&group_id_max) {
        return Err(FieldError::new(
            "group_id_max",
            "must be a group number 0–999",
        ));
    }
    if group_id_max > group_id {
        return Err(FieldError::new(
            "group_id_max",
            format!("must not be above group_id ({group_id}), or no group would see the tab"),
        ));
    }
    Ok(())
}

/// Tab name → the tab's `group_id`, for proxy-auth URLs that name a tab. Rebuilt whole and
/// swapped in when tabs change; the hot path only reads it.
#[derive(Debug, Default)]
pub struct TabIndex {
    by_name: HashMap<String, GroupId>,
}

impl TabIndex {
    /// Builds the index from every tab, enabled or not: disabling a tab hides it from the portal
    /// but must not lock everybody out of the app behind it.
    pub fn new(tabs: &[Tab]) -> TabIndex {
        TabIndex {
            by_name: tabs.iter().map(|t| (fold(&t.name), t.group_id)).collect(),
        }
    }

    /// The group threshold of the tab with this name. Organizr matches `LIKE %name%`, so
    /// "plex" would also find "Plex Requests"; Usher matches the whole name, ignoring case only.
    pub fn group_of(&self, name: &str) -> Option<GroupId> {
        self.by_name.get(&fold(name)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(group_id: GroupId, group_id_max: GroupId, enabled: bool) -> Tab {
        Tab {
            id: 1,
            name: "Plex".into(),
            url: "/plex/".into(),
            icon: None,
            group_id,
            group_id_max,
            kind: TabKind::Iframe,
            order: 1,
            category: None,
            enabled,
        }
    }

    #[test]
    fn organizr_visibility_rule() {
        let t = tab(4, 0, true);
        assert!(t.visible_to(0) && t.visible_to(4));
        assert!(!t.visible_to(5) && !t.visible_to(999));
        let band = tab(4, 2, true);
        assert!(!band.visible_to(1) && band.visible_to(2) && band.visible_to(4));
        assert!(!tab(999, 0, false).visible_to(0));
    }

    #[test]
    fn urls() {
        for ok in [
            "https://plex.example.com/web",
            "http://10.0.0.5:8181/",
            "/tautulli/",
            "/",
        ] {
            assert_eq!(validate_url("url", ok), Ok(()), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "//evil.example.com/",
            "/\\evil.example.com",
            "ftp://host/",
            "https://",
            "plex",
            "",
            "/a b",
            "https://host/\u{7}",
        ] {
            assert!(validate_url("url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_icons_and_groups() {
        assert!(validate_name("Plex Requests").is_ok());
        for bad in ["", " x", "x ", "42", "a\u{0}b", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_icon("fa fa-film").is_ok());
        assert!(validate_icon("/assets/plex.png").is_ok());
        assert!(validate_icon("javascript:alert(1)").is_err());
        assert!(validate_icon("<b>").is_err());
        assert!(validate_groups(4, 0).is_ok());
        assert_eq!(validate_groups(2, 3).unwrap_err().field, "group_id_max");
        assert_eq!(validate_groups(1000, 0).unwrap_err().field, "group_id");
    }

    #[test]
    fn index_matches_whole_names_ignoring_case() {
        let mut a = tab(2, 0, false);
        a.name = "Plex Requests".into();
        let idx = TabIndex::new(&[a]);
        assert_eq!(idx.group_of("plex requests"), Some(2));
        assert_eq!(idx.group_of("PLEX REQUESTS"), Some(2));
        assert_eq!(idx.group_of("plex"), None);
    }
}
