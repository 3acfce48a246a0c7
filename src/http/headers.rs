//! Reading a request's headers whether hyper parsed them into a `HeaderMap` or the proxy-auth
//! connection loop (`super::proxy_auth_conn`) left them as the bytes `httparse` found.
//!
//! Both forms must read alike: names are matched without regard to case, values come in the
//! order they were sent, and a value is text only when `HeaderValue::to_str` would say so. The
//! checks that use this (client IP, cookies, `X-Forwarded-*`) then decide the same whichever
//! way a request came in.

use axum::http::HeaderMap;

/// Every value of one header, in the order sent. `name` is given in lower case.
pub trait RequestHeaders {
    fn values<'a>(&'a self, name: &'a str) -> impl DoubleEndedIterator<Item = &'a [u8]> + 'a;
}

impl RequestHeaders for HeaderMap {
    fn values<'a>(&'a self, name: &'a str) -> impl DoubleEndedIterator<Item = &'a [u8]> + 'a {
        self.get_all(name).iter().map(|v| v.as_bytes())
    }
}

impl RequestHeaders for [httparse::Header<'_>] {
    fn values<'a>(&'a self, name: &'a str) -> impl DoubleEndedIterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// The value as text, exactly when `HeaderValue::to_str` gives it: visible ASCII and tabs only.
pub fn text(value: &[u8]) -> Option<&str> {
    if value
        .iter()
        .all(|&b| (b' '..0x7f).contains(&b) || b == b'\t')
    {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// A header sent exactly once, as text; `Err` when duplicated or not text (a conflict is
/// never resolved by picking one).
pub(crate) fn single<'h, H: RequestHeaders + ?Sized>(
    headers: &'h H,
    name: &'h str,
) -> Result<Option<&'h str>, ()> {
    let mut values = headers.values(name);
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => text(v).map(Some).ok_or(()),
        _ => Err(()),
    }
}

/// The first value of a header, as text (`HeaderMap::get` + `to_str`).
pub fn first<'h, H: RequestHeaders + ?Sized>(headers: &'h H, name: &'h str) -> Option<&'h str> {
    headers.values(name).next().and_then(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// Every byte value, alone in a header: both forms agree with `to_str`.
    #[test]
    fn text_agrees_with_header_value_to_str() {
        for b in 0u8..=255 {
            let bytes = [b'a', b, b'z'];
            let Ok(v) = HeaderValue::from_bytes(&bytes) else {
                continue;
            };
            assert_eq!(text(&bytes), v.to_str().ok(), "byte {b:#x}");
        }
    }

    #[test]
    fn both_forms_give_the_same_values_in_order() {
        let raw = b"GET / HTTP/1.1\r\nCookie: a=1\r\nX-Real-IP: 1.2.3.4\r\ncookie: b=2\r\n\r\n";
        let mut parsed = [httparse::EMPTY_HEADER; 8];
        let mut req = httparse::Request::new(&mut parsed);
        req.parse(raw).unwrap();
        let mut map = HeaderMap::new();
        for h in req.headers.iter() {
            map.append(
                axum::http::HeaderName::from_bytes(h.name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(h.value).unwrap(),
            );
        }
        for name in ["cookie", "x-real-ip", "accept"] {
            let a: Vec<&[u8]> = RequestHeaders::values(&*req.headers, name).collect();
            let b: Vec<&[u8]> = RequestHeaders::values(&map, name).collect();
            assert_eq!(a, b, "{name}");
            let a: Vec<&[u8]> = RequestHeaders::values(&*req.headers, name).rev().collect();
            let b: Vec<&[u8]> = RequestHeaders::values(&map, name).rev().collect();
            assert_eq!(a, b, "{name} reversed");
        }
        assert_eq!(single(&*req.headers, "cookie"), Err(()));
        assert_eq!(single(&*req.headers, "x-real-ip"), Ok(Some("1.2.3.4")));
        assert_eq!(single(&map, "accept"), Ok(None));
    }
}
