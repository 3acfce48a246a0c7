//! Sign-in, PINs and identity: `/users/sign_in.json`, `/api/v2/users/signin`, `/api/v2/pins`, the test approval routes, `/api/v2/user`, `/api/v2/ping`, `/users/account(.json)`.

use super::*;

// ---------- handlers: sign-in ----------

pub(super) async fn v2_sign_in(
    State(shared): S,
    headers: HeaderMap,
    Query(query): Q,
    body: Bytes,
) -> Response {
    if client_id(&headers, &query).is_none() {
        return missing_client_id(&headers);
    }
    let fields = form(&body);
    let world = shared.world();
    let login = fields.get("login").map(String::as_str).unwrap_or("");
    let Some(account) =
        find_login(&world, login).filter(|a| Some(&a.password) == fields.get("password"))
    else {
        return unauthenticated(&headers);
    };
    if let Some(code) = &account.two_factor_code {
        match fields.get("verificationCode").filter(|c| !c.is_empty()) {
            None => {
                return v2_error(
                    &headers,
                    StatusCode::UNAUTHORIZED,
                    1029,
                    "Please enter the verification code",
                )
            }
            Some(sent) if sent != code => {
                return v2_error(
                    &headers,
                    StatusCode::UNAUTHORIZED,
                    1028,
                    "Invalid verification code",
                )
            }
            Some(_) => {}
        }
    }
    let mut value = user_json(account, &account.token);
    value["pastSubscriptions"] = json!([]);
    value["trials"] = json!([]);
    v2_answer(&headers, StatusCode::CREATED, value, || {
        user_xml(account, &account.token)
    })
}

/// Form, JSON or Basic; the 2FA code is appended to the password.
pub(super) async fn legacy_sign_in(State(shared): S, headers: HeaderMap, body: Bytes) -> Response {
    let (login, password) = if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(base64_decode)
    {
        let (l, p) = basic.split_once(':').unwrap_or((&basic, ""));
        (l.to_owned(), p.to_owned())
    } else if let Ok(value) = serde_json::from_slice::<Value>(&body) {
        let field = |k: &str| value["user"][k].as_str().unwrap_or_default().to_owned();
        (field("login"), field("password"))
    } else {
        let fields = form(&body);
        let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
        (field("user[login]"), field("user[password]"))
    };
    let world = shared.world();
    let ok = find_login(&world, &login).filter(|a| match &a.two_factor_code {
        Some(code) => password == format!("{}{code}", a.password),
        None => password == a.password,
    });
    match ok {
        Some(account) => json_type(StatusCode::CREATED, legacy_user_json(account).to_string()),
        None => json_type(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Invalid email, username, or password."}"#.into(),
        ),
    }
}

// ---------- handlers: PINs ----------

pub(super) async fn create_pin(
    State(shared): S,
    headers: HeaderMap,
    Query(query): Q,
    body: Bytes,
) -> Response {
    let Some(client) = client_id(&headers, &query) else {
        return missing_client_id(&headers);
    };
    let strong = query
        .get("strong")
        .or(form(&body).get("strong"))
        .is_some_and(|v| v == "true" || v == "1");
    let mut world = shared.world();
    let lifetime = if strong {
        world.seed.pin_lifetime
    } else {
        world.seed.pin_lifetime.min(Duration::from_secs(900))
    };
    let mut rng = rand::thread_rng();
    let code: String = if strong {
        (0..25)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)]))
            .collect()
    } else {
        (0..4)
            .map(|_| char::from(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rng.gen_range(0..32)]))
            .collect()
    };
    let pin = FakePin {
        id: 1894323456 + world.pins.len() as i64,
        code,
        client_id: client,
        product: plex_param(&headers, &query, "X-Plex-Product").unwrap_or_default(),
        approved_by: None,
        auth_token: None,
        created_at: SystemTime::now(),
        expires: Instant::now() + lifetime,
        lifetime,
    };
    world.pins.push(pin.clone());
    v2_answer(&headers, StatusCode::CREATED, pin_json(&pin), || {
        pin_xml(&pin)
    })
}

/// 404 (1020) for unknown, expired, or another client identifier's PIN.
pub(super) async fn poll_pin(
    State(shared): S,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Q,
) -> Response {
    let Some(client) = client_id(&headers, &query) else {
        return missing_client_id(&headers);
    };
    let world = shared.world();
    let pin = id
        .parse::<i64>()
        .ok()
        .and_then(|id| world.pins.iter().find(|p| p.id == id));
    match pin.filter(|p| p.alive() && p.client_id == client) {
        Some(pin) => v2_answer(&headers, StatusCode::OK, pin_json(pin), || pin_xml(pin)),
        None => v2_error(
            &headers,
            StatusCode::NOT_FOUND,
            1020,
            "Code not found or expired",
        ),
    }
}

pub(super) fn approve(
    world: &mut World,
    which: impl Fn(&FakePin) -> bool,
    account_id: i64,
) -> Result<(), (StatusCode, String)> {
    let token = world
        .seed
        .accounts
        .iter()
        .find(|a| a.id == account_id)
        .map(|a| a.token.clone())
        .ok_or((StatusCode::BAD_REQUEST, format!("no account {account_id}")))?;
    let pin = world
        .pins
        .iter_mut()
        .find(|p| which(p) && p.alive())
        .ok_or((
            StatusCode::NOT_FOUND,
            "Code not found or expired".to_owned(),
        ))?;
    pin.approved_by = Some(account_id);
    pin.auth_token = Some(token);
    Ok(())
}

pub(super) fn approval_account(
    world: &World,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Option<i64> {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let by_name = |name: &str| {
        world
            .seed
            .accounts
            .iter()
            .find(|a| a.username == name)
            .map(|a| a.id)
    };
    query
        .get("account")
        .and_then(|v| v.parse().ok())
        .or_else(|| query.get("user").and_then(|u| by_name(u)))
        .or_else(|| json["account"].as_i64())
        .or_else(|| json["user"].as_str().and_then(by_name))
}

pub(super) async fn test_approve_by_id(
    State(shared): S,
    Path(id): Path<i64>,
    Query(query): Q,
    body: Bytes,
) -> Response {
    let mut world = shared.world();
    let Some(account) = approval_account(&world, &query, &body) else {
        return (StatusCode::BAD_REQUEST, "say ?account=ID or ?user=NAME").into_response();
    };
    match approve(&mut world, |p| p.id == id, account) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// What the auth page calls. When `clientID` is given it must be the PIN creator's, as the real auth
/// app links the code to the app that asked.
pub(super) async fn test_approve_by_code(
    State(shared): S,
    Path(code): Path<String>,
    Query(query): Q,
    body: Bytes,
) -> Response {
    let mut world = shared.world();
    let Some(account) = approval_account(&world, &query, &body) else {
        return (StatusCode::BAD_REQUEST, "say ?account=ID or ?user=NAME").into_response();
    };
    if let (Some(sent), Some(pin)) = (
        query.get("clientID"),
        world.pins.iter().find(|p| p.code == code),
    ) {
        if *sent != pin.client_id {
            return (
                StatusCode::BAD_REQUEST,
                "clientID does not match the app that created this code",
            )
                .into_response();
        }
    }
    match approve(&mut world, |p| p.code == code, account) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

// ---------- handlers: identity ----------

pub(super) async fn v2_user(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    if client_id(&headers, &query).is_none() {
        return missing_client_id(&headers);
    }
    let world = shared.world();
    match caller(&world, &headers, &query) {
        Some(a) => v2_answer(&headers, StatusCode::OK, user_json(&a, &a.token), || {
            user_xml(&a, &a.token)
        }),
        None => unauthenticated(&headers),
    }
}

pub(super) async fn v2_ping(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    if client_id(&headers, &query).is_none() {
        return missing_client_id(&headers);
    }
    match caller(&shared.world(), &headers, &query) {
        Some(_) => v2_answer(&headers, StatusCode::OK, json!({"pong": true}), || {
            "<pong>true</pong>".into()
        }),
        None => unauthenticated(&headers),
    }
}

pub(super) async fn legacy_account_json(
    State(shared): S,
    headers: HeaderMap,
    Query(query): Q,
) -> Response {
    match caller(&shared.world(), &headers, &query) {
        Some(a) => json_type(StatusCode::OK, legacy_user_json(&a).to_string()),
        None => json_type(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"Invalid authentication token."}"#.into(),
        ),
    }
}

pub(super) async fn legacy_account_xml(
    State(shared): S,
    headers: HeaderMap,
    Query(query): Q,
) -> Response {
    match caller(&shared.world(), &headers, &query) {
        Some(a) => xml_doc(StatusCode::OK, user_xml(&a, &a.token)),
        None => legacy_unauthorized(),
    }
}
