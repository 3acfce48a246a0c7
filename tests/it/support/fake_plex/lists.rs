//! Friends and servers: `/api/users`, `/api/servers/{mid}/shared_servers`, `/api/resources`, `/api/v2/resources`, `/pms/servers`, `/api/v2/friends`.

use super::*;

// ---------- handlers: friends and servers (always XML on legacy paths) ----------

/// The people `owner` lists: explicit friends plus anyone holding a share of one of its servers.
pub(super) fn friends_of(
    world: &World,
    owner: &FakeAccount,
) -> Vec<(FakeAccount, Vec<(FakeShare, FakeServer)>)> {
    let owned: Vec<&FakeServer> = world
        .seed
        .servers
        .iter()
        .filter(|s| s.owner_id == owner.id)
        .collect();
    let mut out = Vec::new();
    for account in world.seed.accounts.iter().filter(|a| a.id != owner.id) {
        let shares: Vec<(FakeShare, FakeServer)> = world
            .seed
            .shares
            .iter()
            .filter(|s| s.user_id == account.id)
            .filter_map(|s| {
                owned
                    .iter()
                    .find(|srv| srv.machine_id == s.machine_id)
                    .map(|srv| (s.clone(), (*srv).clone()))
            })
            .collect();
        if !shares.is_empty() || world.seed.friends.contains(&(owner.id, account.id)) {
            out.push((account.clone(), shares));
        }
    }
    out
}

pub(super) async fn api_users(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    let world = shared.world();
    let Some(owner) = caller(&world, &headers, &query) else {
        return legacy_unauthorized();
    };
    let friends = friends_of(&world, &owner);
    let mut body = format!(
        "<MediaContainer friendlyName=\"myPlex\" identifier=\"com.plexapp.plugins.myplex\" machineIdentifier=\"0f7c5d3e2a1b49e8a6c4d2b0e9f8a7c6b5d4e3f2\" totalSize=\"{0}\" size=\"{0}\">\n",
        friends.len()
    );
    for (account, shares) in friends {
        let mut user = attrs(&[
            ("id", account.id.to_string()),
            ("title", account.title.clone()),
            ("username", account.username.clone()),
            ("email", account.email.clone()),
            ("recommendationsPlaylistId", String::new()),
            ("thumb", account.thumb.clone()),
            ("protected", bit(account.protected)),
            ("home", bit(account.home)),
            ("allowTuners", "0".into()),
            ("allowSync", "1".into()),
            ("allowCameraUpload", "0".into()),
            ("allowChannels", "0".into()),
            ("allowSubtitleAdmin", "0".into()),
            ("filterAll", String::new()),
            ("filterMovies", String::new()),
            ("filterMusic", String::new()),
            ("filterPhotos", String::new()),
            ("filterTelevision", String::new()),
            ("restricted", bit(account.restricted)),
        ]);
        if shares.is_empty() {
            body.push_str(&format!("  <User{user}/>\n"));
            continue;
        }
        user.push('>');
        body.push_str(&format!("  <User{user}\n"));
        for (share, server) in shares {
            let server_el = element(
                "Server",
                &[
                    ("id", share.share_id.to_string()),
                    ("serverId", server.server_id.to_string()),
                    ("machineIdentifier", server.machine_id.clone()),
                    ("name", server.name.clone()),
                    ("lastSeenAt", "1700000000".into()),
                    ("numLibraries", "3".into()),
                    ("allLibraries", "1".into()),
                    ("owned", "1".into()),
                    ("pending", bit(share.pending)),
                ],
            );
            body.push_str(&format!("    {server_el}\n"));
        }
        body.push_str("  </User>\n");
    }
    body.push_str("</MediaContainer>");
    xml_doc(StatusCode::OK, body)
}

pub(super) async fn shared_servers(
    State(shared): S,
    Path(mid): Path<String>,
    headers: HeaderMap,
    Query(query): Q,
) -> Response {
    let world = shared.world();
    let Some(owner) = caller(&world, &headers, &query) else {
        return legacy_unauthorized();
    };
    let Some(server) = world
        .seed
        .servers
        .iter()
        .find(|s| s.machine_id == mid && s.owner_id == owner.id)
    else {
        return xml_doc(
            StatusCode::NOT_FOUND,
            "<errors>\n  <error>Server not found</error>\n</errors>".into(),
        );
    };
    let shares: Vec<&FakeShare> = world
        .seed
        .shares
        .iter()
        .filter(|s| s.machine_id == mid)
        .collect();
    let mut body = format!(
        "<MediaContainer friendlyName=\"myPlex\" identifier=\"com.plexapp.plugins.myplex\" machineIdentifier=\"{mid}\" size=\"{}\">\n",
        shares.len()
    );
    for share in shares {
        let Some(user) = world.seed.accounts.iter().find(|a| a.id == share.user_id) else {
            continue;
        };
        let open = attrs(&[
            ("id", share.share_id.to_string()),
            ("username", user.username.clone()),
            ("email", user.email.clone()),
            ("userID", user.id.to_string()),
            ("accessToken", share.server_token.clone()),
            ("name", server.name.clone()),
            (
                "acceptedAt",
                if share.pending { "0" } else { "1690000000" }.into(),
            ),
            ("invitedAt", "1689990000".into()),
            ("allowSync", "1".into()),
            ("owned", "0".into()),
            ("allLibraries", "1".into()),
        ]);
        body.push_str(&format!(
            "  <SharedServer{open}>\n    <Section id=\"41000001\" key=\"1\" title=\"Movies\" type=\"movie\" shared=\"1\"/>\n    <Section id=\"41000002\" key=\"2\" title=\"TV Shows\" type=\"show\" shared=\"1\"/>\n  </SharedServer>\n"
        ));
    }
    body.push_str("</MediaContainer>");
    xml_doc(StatusCode::OK, body)
}

/// `/api/resources`: `Device` + `Connection`, XML whatever the Accept header says.
pub(super) async fn api_resources(
    State(shared): S,
    headers: HeaderMap,
    Query(query): Q,
) -> Response {
    let world = shared.world();
    let Some(me) = caller(&world, &headers, &query) else {
        return legacy_unauthorized();
    };
    let mut devices: Vec<Value> = visible_servers(&world, &me)
        .iter()
        .map(|(s, owned, t, o)| resource_json(s, *owned, t, o))
        .collect();
    devices.push(web_client_json());
    let mut body = format!("<MediaContainer size=\"{}\">\n", devices.len());
    for device in &devices {
        body.push_str(&format!("  <Device{}>\n", attrs(&json_attrs(device))));
        for connection in device["connections"].as_array().into_iter().flatten() {
            body.push_str(&format!(
                "    {}\n",
                element("Connection", &json_attrs(connection))
            ));
        }
        body.push_str("  </Device>\n");
    }
    body.push_str("</MediaContainer>");
    xml_doc(StatusCode::OK, body)
}

/// `/api/v2/resources`: a JSON array, or `<resource>` XML without `Accept: application/json`.
pub(super) async fn v2_resources(
    State(shared): S,
    headers: HeaderMap,
    Query(query): Q,
) -> Response {
    if client_id(&headers, &query).is_none() {
        return missing_client_id(&headers);
    }
    let world = shared.world();
    let Some(me) = caller(&world, &headers, &query) else {
        return unauthenticated(&headers);
    };
    let mut devices: Vec<Value> = visible_servers(&world, &me)
        .iter()
        .map(|(s, owned, t, o)| resource_json(s, *owned, t, o))
        .collect();
    devices.push(web_client_json());
    let xml = || {
        let mut body = format!("<MediaContainer size=\"{}\">\n", devices.len());
        for device in &devices {
            body.push_str(&format!(
                "  <resource{}>\n    <connections>\n",
                attrs(&json_attrs(device))
            ));
            for connection in device["connections"].as_array().into_iter().flatten() {
                body.push_str(&format!(
                    "      {}\n",
                    element("connection", &json_attrs(connection))
                ));
            }
            body.push_str("    </connections>\n  </resource>\n");
        }
        body + "</MediaContainer>"
    };
    v2_answer(&headers, StatusCode::OK, Value::Array(devices.clone()), xml)
}

pub(super) async fn pms_servers(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    let world = shared.world();
    let Some(me) = caller(&world, &headers, &query) else {
        return legacy_unauthorized();
    };
    let servers = visible_servers(&world, &me);
    let mut body = format!(
        "<MediaContainer friendlyName=\"myPlex\" identifier=\"com.plexapp.plugins.myplex\" machineIdentifier=\"0f7c5d3e2a1b49e8a6c4d2b0e9f8a7c6b5d4e3f2\" size=\"{}\">\n",
        servers.len()
    );
    for (server, owned, token, owner) in servers {
        let octet = server.server_id % 200 + 10;
        let mut pairs = vec![
            ("accessToken", token),
            ("name", server.name.clone()),
            ("address", format!("203.0.113.{octet}")),
            ("port", "32400".into()),
            ("version", "1.41.3.9314-a0bfb8370".into()),
            ("scheme", "http".into()),
            ("host", format!("203.0.113.{octet}")),
            ("localAddresses", format!("192.168.1.{octet}")),
            ("machineIdentifier", server.machine_id.clone()),
            ("createdAt", "1600000000".into()),
            ("updatedAt", "1700000000".into()),
            ("owned", bit(owned)),
            ("synced", "0".into()),
        ];
        if !owned {
            pairs.extend([
                ("sourceTitle", owner.username.clone()),
                ("ownerId", owner.id.to_string()),
                ("home", "0".into()),
            ]);
        }
        body.push_str(&format!("  {}\n", element("Server", &pairs)));
    }
    body.push_str("</MediaContainer>");
    xml_doc(StatusCode::OK, body)
}

pub(super) async fn v2_friends(State(shared): S, headers: HeaderMap, Query(query): Q) -> Response {
    if client_id(&headers, &query).is_none() {
        return missing_client_id(&headers);
    }
    let world = shared.world();
    let Some(me) = caller(&world, &headers, &query) else {
        return unauthenticated(&headers);
    };
    let list: Vec<Value> = friends_of(&world, &me)
        .into_iter()
        .map(|(a, _)| {
            json!({"id": a.id, "uuid": a.uuid, "title": a.title, "username": a.username, "email": a.email,
                   "friendlyName": null, "restricted": a.restricted, "home": a.home, "thumb": a.thumb,
                   "status": "accepted", "sharedServers": [], "sharedSources": []})
        })
        .collect();
    json_type(StatusCode::OK, Value::Array(list).to_string())
}
