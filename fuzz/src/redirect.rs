//! Target `redirect`: where the sign-in page may send people afterwards
//! (`usher::http::redirect::is_safe`). Invariant: a target it approves leads, resolved the way a
//! browser resolves it (WHATWG URL rules against the sign-in page), to an http(s) page on
//! Usher's own host, the public URL's host, an allowed host or a host under the cookie domain.
//!
//! Input: line 1 the target; line 2, when present, the Host the sign-in page was served on.

use std::sync::OnceLock;

use url::Url;
use usher::http::redirect::{is_safe, safe_redirect};
use usher::settings::Settings;

const SIGN_IN_PAGE: &str = "https://usher.example.com/login";

fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        crate::settings(&[
            ("public_url", "\"https://usher.example.com\""),
            ("cookie_domain", "\"example.com\""),
            ("allowed_redirect_hosts", "[\"media.home.lan\"]"),
        ])
    })
}

/// Builds the settings snapshot.
pub fn prepare() {
    settings();
}

/// Checks one target.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (target, own_host) = match text.split_once('\n') {
        Some((t, h)) => (t, Some(h)),
        None => (text, None),
    };
    let settings = settings();
    if !is_safe(target, settings, own_host) {
        assert_eq!(safe_redirect(Some(target), settings, own_host), "/");
        return;
    }
    assert_eq!(safe_redirect(Some(target), settings, own_host), target);
    let page = Url::parse(SIGN_IN_PAGE).expect("static URL");
    let Ok(dest) = page.join(target) else {
        return; // a browser does not follow a Location it cannot resolve
    };
    assert!(
        matches!(dest.scheme(), "http" | "https"),
        "approved {target:?}, which leads to {dest}"
    );
    let host = dest
        .host_str()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    assert!(
        on_site(&host, own_host),
        "approved {target:?} (page served on {own_host:?}), which leads off-site to {dest}"
    );
}

/// The hosts the settings above allow, written out independently of `is_safe`.
fn on_site(host: &str, own_host: Option<&str>) -> bool {
    let own = own_host.map(|h| {
        let h = h.to_ascii_lowercase();
        match h.rsplit_once(':') {
            Some((name, _)) if !h.starts_with('[') => name.to_string(),
            _ => h,
        }
    });
    host == "usher.example.com"
        || host == "media.home.lan"
        || host == "example.com"
        || host.ends_with(".example.com")
        || own.as_deref() == Some(host)
}
