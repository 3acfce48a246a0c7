//! Where the login page may send people afterwards: a relative path, or a URL on Usher's own
//! host, under the cookie domain, or on an allowed host. Anything else goes to `/`.

use url::Url;

use crate::settings::Settings;

/// Returns `target` when it is safe to redirect to, else `/`.
pub fn safe_redirect(target: Option<&str>, settings: &Settings, own_host: Option<&str>) -> String {
    match target {
        Some(t) if is_safe(t, settings, own_host) => t.to_string(),
        _ => "/".to_string(),
    }
}

/// Whether `t` may be redirected to (see the module comment); `own_host` is the Host the
/// sign-in page is served on.
pub fn is_safe(t: &str, settings: &Settings, own_host: Option<&str>) -> bool {
    if t.is_empty()
        || t.len() > 2048
        || t.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        // Browsers strip tabs/newlines and treat '\' as '/', which turns "/\tevil" into "//evil".
        return false;
    }
    if t.starts_with('/') {
        // "//host" and "/\host" are protocol-relative: another site.
        return !t.starts_with("//");
    }
    let Ok(url) = Url::parse(t) else { return false };
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let own = own_host.map(|h| strip_port(h).to_ascii_lowercase());
    let public = settings
        .public_url
        .as_ref()
        .and_then(|u| u.host_str())
        .map(str::to_ascii_lowercase);
    own.as_deref() == Some(host.as_str())
        || public.as_deref() == Some(host.as_str())
        || settings.allowed_redirect_hosts.contains(&host)
        || settings
            .cookie_domain
            .as_deref()
            .is_some_and(|d| host == d || host.ends_with(&format!(".{d}")))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .map(|h| h.trim_start_matches('['))
            .unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let mut rows = std::collections::BTreeMap::new();
        rows.insert("cookie_domain".to_string(), "\"example.com\"".to_string());
        rows.insert(
            "allowed_redirect_hosts".to_string(),
            "[\"media.home.lan\"]".to_string(),
        );
        let key = crate::crypto::SecretKey::parse(&"00".repeat(32)).unwrap();
        Settings::from_stored(&rows, &key).unwrap()
    }

    #[test]
    fn allowed() {
        let s = settings();
        for t in [
            "/",
            "/tautulli/home?x=1",
            "https://sonarr.example.com/calendar",
            "https://example.com/",
            "http://media.home.lan:8080/x",
            "http://usher.local:8420/x",
        ] {
            assert_eq!(
                safe_redirect(Some(t), &s, Some("usher.local:8420")),
                t,
                "{t}"
            );
        }
    }

    #[test]
    fn refused() {
        let s = settings();
        for t in [
            "//evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "/\t/evil.com",
            "https://evil.com",
            "https://example.com.evil.com/",
            "https://evilexample.com/",
            "https://example.com@evil.com/",
            "https://user:pw@sonarr.example.com/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://evil.com/?next=https://example.com",
            "evil.com",
            "",
        ] {
            assert_eq!(safe_redirect(Some(t), &s, Some("usher.local")), "/", "{t}");
        }
    }
}
