//! The JSON and XML bodies plex.tv answers with (spec external-apis.md §2–§6).

use super::*;

// ---------- payloads ----------

pub(super) fn user_json(account: &FakeAccount, token: &str) -> Value {
    json!({
        "id": account.id, "uuid": account.uuid, "username": account.username, "title": account.title,
        "email": if account.email.is_empty() { Value::Null } else { json!(account.email) },
        "friendlyName": account.title, "locale": null, "confirmed": !account.email_unconfirmed, "joinedAt": 1546300800,
        "emailOnlyAuth": false, "hasPassword": !account.password.is_empty(), "protected": account.protected,
        "thumb": account.thumb, "authToken": token, "mailingListStatus": "active", "mailingListActive": false,
        "scrobbleTypes": "", "country": "US",
        "subscription": {"active": false, "subscribedAt": null, "status": "Inactive", "paymentService": null,
                         "plan": null, "features": []},
        "subscriptionDescription": null, "restricted": account.restricted, "anonymous": null,
        "home": account.home, "guest": false, "homeSize": if account.home { 2 } else { 0 },
        "homeAdmin": account.home_admin, "maxHomeSize": 15, "rememberExpiresAt": 1767225600,
        "profile": {"autoSelectAudio": true, "defaultAudioLanguage": "en", "defaultSubtitleLanguage": "en",
                    "autoSelectSubtitle": 0, "defaultSubtitleAccessibility": 0, "defaultSubtitleForced": 0},
        "entitlements": [], "roles": [], "services": [], "adsConsent": null, "adsConsentSetAt": null,
        "adsConsentReminderAt": null, "experimentalFeatures": false,
        "twoFactorEnabled": account.two_factor_code.is_some(), "backupCodesCreated": false
    })
}

pub(super) fn user_xml(account: &FakeAccount, token: &str) -> String {
    let open = attrs(&[
        ("id", account.id.to_string()),
        ("uuid", account.uuid.clone()),
        ("username", account.username.clone()),
        ("title", account.title.clone()),
        ("email", account.email.clone()),
        ("thumb", account.thumb.clone()),
        ("authenticationToken", token.into()),
        ("authToken", token.into()),
        ("restricted", bit(account.restricted)),
        ("home", bit(account.home)),
        ("homeAdmin", bit(account.home_admin)),
        ("guest", "0".into()),
        ("protected", bit(account.protected)),
        ("twoFactorEnabled", bit(account.two_factor_code.is_some())),
        ("hasPassword", (!account.password.is_empty()).to_string()),
    ]);
    format!("<user{open}>\n  <subscription active=\"0\" status=\"Inactive\" plan=\"\"/>\n  <roles/>\n  <entitlements all=\"0\"/>\n</user>")
}

pub(super) fn legacy_user_json(account: &FakeAccount) -> Value {
    json!({"user": {
        "id": account.id, "uuid": account.uuid, "email": account.email, "joined_at": "2019-06-01 12:00:00 UTC",
        "username": account.username, "title": account.title, "thumb": account.thumb,
        "hasPassword": !account.password.is_empty(), "authToken": account.token,
        "authentication_token": account.token,
        "subscription": {"active": false, "status": "Inactive", "plan": null, "features": []},
        "roles": {"roles": []}, "entitlements": [], "confirmedAt": "2019-06-01 12:05:00 UTC", "forumId": null
    }})
}

pub(super) fn pin_json(pin: &FakePin) -> Value {
    // Whole seconds left, rounded up: a live PIN never shows 0.
    let left = pin
        .expires
        .saturating_duration_since(Instant::now())
        .as_millis()
        .div_ceil(1000);
    json!({
        "id": pin.id, "code": pin.code, "product": pin.product, "trusted": false,
        "qr": format!("https://plex.tv/api/v2/pins/qr/{}", pin.code), "clientIdentifier": pin.client_id,
        "location": {"code": "US", "european_union_member": false, "continent_code": "NA",
                     "country": "United States", "city": "Springfield", "time_zone": "America/Chicago",
                     "postal_code": "62701", "in_privacy_restricted_country": false,
                     "in_privacy_restricted_region": false, "subdivisions": "Illinois", "coordinates": "39.8, -89.6"},
        "expiresIn": left, "createdAt": iso8601(pin.created_at), "expiresAt": iso8601(pin.created_at + pin.lifetime),
        "authToken": pin.auth_token, "newRegistration": null
    })
}

pub(super) fn pin_xml(pin: &FakePin) -> String {
    let value = pin_json(pin);
    let field = |k: &str| {
        value[k]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value[k].to_string())
    };
    let open = attrs(&[
        ("id", pin.id.to_string()),
        ("code", pin.code.clone()),
        ("product", pin.product.clone()),
        ("trusted", "0".into()),
        ("qr", field("qr")),
        ("clientIdentifier", pin.client_id.clone()),
        ("expiresIn", field("expiresIn")),
        ("createdAt", field("createdAt")),
        ("expiresAt", field("expiresAt")),
        ("authToken", pin.auth_token.clone().unwrap_or_default()),
        ("newRegistration", String::new()),
    ]);
    format!("<pin{open}>\n  <location code=\"US\" country=\"United States\" city=\"Springfield\"/>\n</pin>")
}

/// A server as `caller` sees it: (server, owned, token for it, owner).
pub(super) fn visible_servers(
    world: &World,
    caller: &FakeAccount,
) -> Vec<(FakeServer, bool, String, FakeAccount)> {
    let owner_of = |s: &FakeServer| {
        world
            .seed
            .accounts
            .iter()
            .find(|a| a.id == s.owner_id)
            .cloned()
    };
    let mut out = Vec::new();
    for server in &world.seed.servers {
        let Some(owner) = owner_of(server) else {
            continue;
        };
        if server.owner_id == caller.id {
            out.push((server.clone(), true, caller.token.clone(), owner));
        } else if let Some(share) = world
            .seed
            .shares
            .iter()
            .find(|s| s.user_id == caller.id && s.machine_id == server.machine_id && !s.pending)
        {
            out.push((server.clone(), false, share.server_token.clone(), owner));
        }
    }
    out
}

pub(super) fn resource_json(
    server: &FakeServer,
    owned: bool,
    token: &str,
    owner: &FakeAccount,
) -> Value {
    let octet = server.server_id % 200 + 10;
    json!({
        "name": server.name, "product": "Plex Media Server", "productVersion": "1.41.3.9314-a0bfb8370",
        "platform": "Linux", "platformVersion": "6.1.0-18-amd64", "device": "PC",
        "clientIdentifier": server.machine_id, "createdAt": "2020-09-13T12:26:40Z",
        "lastSeenAt": "2023-11-14T22:13:20Z", "provides": "server",
        "ownerId": if owned { Value::Null } else { json!(owner.id) },
        "sourceTitle": if owned { Value::Null } else { json!(owner.username) },
        "publicAddress": format!("203.0.113.{octet}"), "accessToken": token, "owned": owned, "home": false,
        "synced": false, "relay": true, "presence": true, "httpsRequired": false, "publicAddressMatches": owned,
        "dnsRebindingProtection": false, "natLoopbackSupported": true,
        "connections": [{"protocol": "https", "address": format!("192.168.1.{octet}"), "port": 32400,
            "uri": format!("https://192-168-1-{octet}.{}.plex.direct:32400", &server.machine_id[..32]),
            "local": true, "relay": false, "IPv6": false}]
    })
}

pub(super) fn web_client_json() -> Value {
    json!({"name": "Chrome", "product": "Plex Web", "productVersion": "4.136.1", "platform": "Chrome",
           "clientIdentifier": "webclientid123", "provides": "client,player,pubsub-player", "owned": true,
           "presence": true, "connections": []})
}

/// JSON resource → XML attributes (scalars only).
pub(super) fn json_attrs(value: &Value) -> Vec<(&str, String)> {
    let Value::Object(map) = value else {
        return vec![];
    };
    map.iter()
        .filter(|(_, v)| !v.is_array() && !v.is_object())
        .map(|(k, v)| {
            let text = match v {
                Value::Bool(b) => bit(*b),
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.as_str(), text)
        })
        .collect()
}
