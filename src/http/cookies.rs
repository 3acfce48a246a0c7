//! The session cookie: finding it in a request, and writing or clearing it.

use axum::http::HeaderValue;
use cookie::time::{Duration, OffsetDateTime};
use cookie::{Cookie, SameSite};

use super::headers::RequestHeaders;
use crate::settings::Settings;

/// The values of every cookie called `name` (a browser may hold a host-only and a domain cookie
/// of the same name), without allocating.
pub fn cookie_values<'a, H: RequestHeaders + ?Sized>(
    headers: &'a H,
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .values("cookie")
        .flat_map(|v| v.split(|b| *b == b';'))
        .filter_map(move |pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|b| *b == b'=')?;
            (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
        })
}

fn build(settings: &Settings, value: String, max_age: i64, domain: Option<&str>) -> HeaderValue {
    build_named(
        settings,
        settings.cookie_name.clone(),
        value,
        max_age,
        domain,
    )
}

fn build_named(
    settings: &Settings,
    name: String,
    value: String,
    max_age: i64,
    domain: Option<&str>,
) -> HeaderValue {
    let mut c = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(settings.secure_cookies())
        .max_age(Duration::seconds(max_age))
        .expires(OffsetDateTime::now_utc() + Duration::seconds(max_age))
        .build();
    if let Some(d) = domain {
        c.set_domain(d.to_string());
    }
    HeaderValue::from_str(&c.encoded().to_string())
        .expect("cookie attributes are valid header text")
}

/// `Set-Cookie` values that store a session token.
pub fn set_session(settings: &Settings, token: &str, max_age: i64) -> Vec<HeaderValue> {
    let mut out = vec![build(
        settings,
        token.to_string(),
        max_age,
        settings.cookie_domain.as_deref(),
    )];
    if settings.cookie_domain.is_some() {
        // A host-only cookie left from before the cookie domain was set would shadow the new one.
        out.push(build(settings, String::new(), 0, None));
    }
    out
}

/// `Set-Cookie` values that clear the session cookie in every form it may have been set.
pub fn clear_session(settings: &Settings) -> Vec<HeaderValue> {
    let mut out = vec![build(settings, String::new(), 0, None)];
    if let Some(d) = settings.cookie_domain.as_deref() {
        out.push(build(settings, String::new(), 0, Some(d)));
    }
    out
}

/// `Set-Cookie` for an app's cookie planned by SSO, with the attributes it will be deleted with.
/// The value goes out as the app gave it (Overseerr's `s%3A…` must not be encoded twice); a
/// value that is not RFC 6265 cookie-octets is dropped with a log line: a `;` or a space from
/// an app's answer would end the value and add attributes of the app's choosing (fuzzing found
/// Ombi tokens going out that way).
pub fn app_cookie(settings: &Settings, plan: &crate::sso::CookiePlan) -> Option<HeaderValue> {
    use secrecy::ExposeSecret;
    if !plan.value.expose_secret().bytes().all(is_cookie_octet) {
        tracing::warn!(cookie = %plan.name, "an app's cookie value is not plain cookie text; not set");
        return None;
    }
    let mut c = Cookie::build((plan.name.clone(), plan.value.expose_secret().to_string()))
        .http_only(plan.http_only)
        .same_site(SameSite::Lax)
        .path(plan.path.clone())
        .secure(settings.secure_cookies())
        .build();
    if let Some(max_age) = plan.max_age {
        c.set_max_age(Duration::seconds(max_age));
        c.set_expires(OffsetDateTime::now_utc() + Duration::seconds(max_age));
    }
    if let Some(d) = &plan.domain {
        c.set_domain(d.clone());
    }
    HeaderValue::from_str(&c.to_string())
        .inspect_err(|_| tracing::warn!(cookie = %plan.name, "an app's cookie is not valid header text; not set"))
        .ok()
}

/// RFC 6265 `cookie-octet`: visible ASCII except `"`, `,`, `;` and the backslash.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// `Set-Cookie` that deletes an app's cookie: same name, domain and path as it was set with.
pub fn clear_app_cookie(
    settings: &Settings,
    set: &crate::store::CookieRecord,
) -> Option<HeaderValue> {
    let mut c = Cookie::build((set.name.clone(), String::new()))
        .http_only(set.http_only)
        .same_site(SameSite::Lax)
        .path(set.path.clone())
        .secure(settings.secure_cookies())
        .max_age(Duration::ZERO)
        .expires(OffsetDateTime::UNIX_EPOCH)
        .build();
    if let Some(d) = &set.domain {
        c.set_domain(d.clone());
    }
    HeaderValue::from_str(&c.to_string()).ok()
}

/// A host-only helper cookie of Usher's own (HttpOnly, SameSite=Lax, Path=/), e.g. the pending
/// Plex PIN; an empty value with `max_age` 0 clears it.
pub fn set_private(settings: &Settings, name: &str, value: &str, max_age: i64) -> HeaderValue {
    build_named(settings, name.to_string(), value.to_string(), max_age, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookie_among_others() {
        use axum::http::{header, HeaderMap};
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; usher_session=abc ; b=2"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("usher_session=def"),
        );
        let v: Vec<&[u8]> = cookie_values(&h, "usher_session").collect();
        assert_eq!(v, vec![b"abc".as_slice(), b"def".as_slice()]);
        assert_eq!(cookie_values(&h, "usher").count(), 0);
    }

    #[test]
    fn cookie_attributes() {
        let s = Settings::default();
        let v = set_session(&s, "tok", 86400);
        let text = v[0].to_str().unwrap();
        assert!(text.starts_with("usher_session=tok"));
        assert!(
            text.contains("HttpOnly") && text.contains("SameSite=Lax") && text.contains("Path=/")
        );
        assert!(text.contains("Max-Age=86400"));
        assert!(!text.contains("Secure"));
        assert!(!text.contains("Domain"));
    }

    #[test]
    fn an_app_cookie_value_cannot_add_attributes() {
        let s = Settings::default();
        let plan = |value: &str| crate::sso::CookiePlan {
            name: "Auth".into(),
            value: secrecy::SecretString::from(value),
            domain: None,
            path: "/ombi".into(),
            max_age: Some(60),
            http_only: false,
        };
        // What an Ombi answer could make of its access_token (the fuzz target `sso` found `,`).
        for bad in [
            "x; Domain=evil.example; Path=/",
            "a b",
            "a,b",
            "\"a\"",
            "x\\y",
        ] {
            assert_eq!(app_cookie(&s, &plan(bad)), None, "{bad:?}");
        }
        let good = app_cookie(&s, &plan("eyJhbGciOi.eyJzdWIi.c2ln-_%3A")).expect("a JWT passes");
        assert!(good
            .to_str()
            .unwrap()
            .starts_with("Auth=eyJhbGciOi.eyJzdWIi.c2ln-_%3A; "));
    }
}
