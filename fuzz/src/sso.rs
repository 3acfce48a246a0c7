//! Target `sso`: the answers of Tautulli, Ombi, Overseerr and Jellyfin as the real SSO modules read
//! them from a fake app (through `sso::run`, as a sign-in does), and the `Set-Cookie` Usher then
//! writes (`http::cookies::app_cookie`). Invariants: no panic; every cookie an answer leads to
//! keeps the name, value, path and domain Usher planned, with nothing an answer smuggled in (a
//! `;` in a token would add attributes); lifetimes fit the clock arithmetic done with them.
//!
//! Input: line 1 is `APP WAY`, APP one of `tautulli`, `ombi`, `overseerr`, `jellyfin`, WAY one of
//! `password`, `plex` (the person signed in with it) or `check` (the admin's Test); the rest
//! is the app's answers in the order asked (see `upstream`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use usher::http::cookies::app_cookie;
use usher::settings::Settings;
use usher::sso::jellyfin::Jellyfin;
use usher::sso::ombi::Ombi;
use usher::sso::overseerr::Overseerr;
use usher::sso::tautulli::Tautulli;
use usher::sso::{run as sign_in_everywhere, CookiePlan, Fallback, Grant, Identity, SsoApp};

use crate::upstream::Fake;

const COOKIE_DOMAIN: &str = "example.com";

struct Child {
    fake: Fake,
    apps: Vec<(&'static [u8], Arc<dyn SsoApp>)>,
    settings: Settings,
}

fn child() -> &'static Child {
    static CHILD: OnceLock<Child> = OnceLock::new();
    CHILD.get_or_init(|| {
        let fake = Fake::start();
        let url = fake.base.as_str();
        let t = Duration::from_secs(5);
        let key = || Some(SecretString::from("fuzz-api-key"));
        let domain = || Some(COOKIE_DOMAIN.to_string());
        let fallback = || {
            Some(Fallback {
                username: "guest".into(),
                password: SecretString::from("guest-password"),
            })
        };
        let apps: Vec<(&'static [u8], Arc<dyn SsoApp>)> = vec![
            (
                b"tautulli",
                Arc::new(Tautulli::new(url, key(), Some("/tautulli"), domain(), t).expect("app")),
            ),
            (
                b"ombi",
                Arc::new(Ombi::new(url, key(), fallback(), domain(), t).expect("app")),
            ),
            (
                b"overseerr",
                Arc::new(Overseerr::new(url, key(), fallback(), domain(), t).expect("app")),
            ),
            (
                b"jellyfin",
                Arc::new(
                    Jellyfin::new(url, Some("https://usher.example.com/jellyfin"), t).expect("app"),
                ),
            ),
        ];
        let settings = crate::settings(&[
            ("public_url", "\"https://usher.example.com\""),
            ("cookie_domain", "\"example.com\""),
        ]);
        Child {
            fake,
            apps,
            settings,
        }
    })
}

/// Nothing to prepare before the fork (the fake app is per child).
pub fn prepare() {}

/// One sign-in (or check) against one set of answers.
pub fn run(data: &[u8]) {
    let (first, answers) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let mut words = first.split(|b| *b == b' ').filter(|w| !w.is_empty());
    let (Some(name), Some(way)) = (words.next(), words.next()) else {
        return;
    };
    let c = child();
    let Some((_, app)) = c.apps.iter().find(|(n, _)| *n == name) else {
        return;
    };
    let who = match way {
        b"check" => {
            let _ = c.fake.run(answers, app.check());
            return;
        }
        b"password" => identity(None),
        b"plex" => identity(Some(SecretString::from("fuzz-plex-token"))),
        _ => return,
    };
    // Through `sso::run`, as a sign-in does (one app, its timeouts, no guard).
    let t = Duration::from_secs(5);
    let apps = [app.clone()];
    let outcomes = c.fake.run(
        answers,
        sign_in_everywhere(&apps, Arc::new(who), t, t, None),
    );
    if let Some(Ok(grant)) = outcomes.first().map(|o| &o.result) {
        check_grant(&c.settings, grant);
    }
}

fn identity(plex_token: Option<SecretString>) -> Identity {
    Identity {
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        password: Some(SecretString::from("alice-password")),
        plex_id: plex_token.as_ref().map(|_| 7),
        plex_token,
    }
}

fn check_grant(settings: &Settings, grant: &Grant) {
    let now = usher::domain::now();
    for seconds in grant
        .lifetime
        .iter()
        .chain(grant.cookies.iter().filter_map(|c| c.max_age.as_ref()))
    {
        assert!(
            now.checked_add(*seconds).is_some(),
            "a lifetime of {seconds} s overflows the clock"
        );
    }
    for plan in &grant.cookies {
        if let Some(header) = app_cookie(settings, plan) {
            check_cookie(plan, header.to_str().expect("Set-Cookie is text"));
        }
    }
}

/// The `Set-Cookie` sets exactly the planned cookie: `name=value` of RFC 6265 cookie-octets
/// first (a `;` or space from an answer would end the value and start attributes), then
/// Usher's own attributes: one Path and at most one Domain, as planned.
fn check_cookie(plan: &CookiePlan, header: &str) {
    let value = plan.value.expose_secret();
    assert!(
        value.bytes().all(cookie_octet),
        "Set-Cookie {header:?}: the value an answer gave is not cookie-octets"
    );
    assert!(
        header.starts_with(&format!("{}={};", plan.name, value)),
        "Set-Cookie {header:?} does not start with the planned cookie"
    );
    let attrs: Vec<&str> = header.split(';').skip(1).map(str::trim).collect();
    let named = |n: &str| {
        attrs
            .iter()
            .filter(|a| a.get(..n.len()).is_some_and(|p| p.eq_ignore_ascii_case(n)))
            .count()
    };
    assert_eq!(named("path="), 1, "Set-Cookie {header:?}: one Path");
    assert!(
        attrs.contains(&format!("Path={}", plan.path).as_str()),
        "Set-Cookie {header:?}: Path is not {:?}",
        plan.path
    );
    assert_eq!(
        named("domain="),
        usize::from(plan.domain.is_some()),
        "Set-Cookie {header:?}: Domain"
    );
}

/// RFC 6265 `cookie-octet`: visible ASCII but `"`, `,`, `;` and the backslash.
fn cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}
