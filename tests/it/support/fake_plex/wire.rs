//! Recording and misbehaving (the test [`Mode`]s), and the request/answer helpers every handler uses.

use super::*;

pub(super) async fn record_and_misbehave(
    State(shared): S,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request
        .headers()
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name.starts_with("x-plex-")
                || matches!(name, "accept" | "content-type" | "authorization")
        })
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    shared.world().log.push(RecordedRequest {
        method: request.method().to_string(),
        path: path.clone(),
        query: request.uri().query().map(str::to_owned),
        headers,
    });
    if path.starts_with("/__test/") || path == "/auth" || path == "/auth/" {
        return next.run(request).await;
    }
    match shared.mode_for(&path) {
        Mode::Normal => next.run(request).await,
        Mode::Error500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>500 Internal Server Error</h1></body></html>",
        )
            .into_response(),
        Mode::Garbage if wants_json(request.headers()) => {
            json_type(StatusCode::OK, r#"{"id": 1000001, "uuid": "a1b2c3d4e5f60718", "authToken": "ADMINTO"#.into())
        }
        Mode::Garbage => xml_type(
            StatusCode::OK,
            r#"<?xml version="1.0" encoding="UTF-8"?><MediaContainer size="4"><User id="2000002" username="friendly"><Server machineIdentifier=""#.into(),
        ),
        Mode::Hang => {
            let mut closing = shared.closing.subscribe();
            while shared.mode_for(&path) == Mode::Hang && !*closing.borrow() {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(25)) => {}
                    _ = closing.changed() => {}
                }
            }
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

// ---------- request helpers ----------

pub(super) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("application/json")))
}

/// A header, or the query parameter of the same name (plex.tv accepts both).
pub(super) fn plex_param(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    name: &str,
) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.get(name).cloned())
        .filter(|v| !v.is_empty())
}

pub(super) fn client_id(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    plex_param(headers, query, "X-Plex-Client-Identifier")
}

pub(super) fn caller(
    world: &World,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Option<FakeAccount> {
    let token = plex_param(headers, query, "X-Plex-Token")?;
    world
        .seed
        .accounts
        .iter()
        .find(|a| a.token == token)
        .cloned()
}

pub(super) fn json_type(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

pub(super) fn xml_type(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

pub(super) fn xml_doc(status: StatusCode, body: String) -> Response {
    xml_type(
        status,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}\n"),
    )
}

/// `/api/v2/*` error body (§1.4), JSON or XML as asked.
pub(super) fn v2_error(
    headers: &HeaderMap,
    status: StatusCode,
    code: i64,
    message: &str,
) -> Response {
    if wants_json(headers) {
        let body =
            json!({"errors": [{"code": code, "message": message, "status": status.as_u16()}]});
        json_type(status, body.to_string())
    } else {
        let error = element(
            "error",
            &[
                ("code", code.to_string()),
                ("message", message.into()),
                ("status", status.as_u16().to_string()),
            ],
        );
        xml_doc(status, format!("<errors>\n  {error}\n</errors>"))
    }
}

pub(super) fn missing_client_id(headers: &HeaderMap) -> Response {
    v2_error(
        headers,
        StatusCode::BAD_REQUEST,
        1000,
        "X-Plex-Client-Identifier is missing",
    )
}

pub(super) fn unauthenticated(headers: &HeaderMap) -> Response {
    v2_error(
        headers,
        StatusCode::UNAUTHORIZED,
        1001,
        "User could not be authenticated",
    )
}

pub(super) fn legacy_unauthorized() -> Response {
    xml_doc(
        StatusCode::UNAUTHORIZED,
        "<errors>\n  <error>Invalid authentication token.</error>\n</errors>".into(),
    )
}

pub(super) fn v2_answer(
    headers: &HeaderMap,
    status: StatusCode,
    value: Value,
    xml: impl FnOnce() -> String,
) -> Response {
    if wants_json(headers) {
        json_type(status, value.to_string())
    } else {
        xml_doc(status, xml())
    }
}

pub(super) fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn attrs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!(" {k}=\"{}\"", escape(v)))
        .collect()
}

pub(super) fn element(name: &str, pairs: &[(&str, String)]) -> String {
    format!("<{name}{}/>", attrs(pairs))
}

pub(super) fn bit(b: bool) -> String {
    if b { "1" } else { "0" }.into()
}

pub(super) fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub(super) fn find_login<'a>(world: &'a World, login: &str) -> Option<&'a FakeAccount> {
    let login = login.trim();
    world.seed.accounts.iter().find(|a| {
        !a.password.is_empty()
            && !login.is_empty()
            && (a.username.eq_ignore_ascii_case(login) || a.email.eq_ignore_ascii_case(login))
    })
}
