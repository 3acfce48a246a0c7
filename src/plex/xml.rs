//! The XML answers of plex.tv's legacy endpoints (`/api/users`, `/pms/servers`, XML error bodies),
//! parsed with quick-xml + serde. Every attribute is read as an optional string and converted by hand,
//! so a missing or odd attribute never fails a whole list.

use serde::Deserialize;

use super::{redact_quoted, PlexConnection, PlexFriend, PlexServer, PlexShare, PlexToken};

#[derive(Deserialize)]
struct UsersXml {
    #[serde(rename = "User", default)]
    users: Vec<UserXml>,
}

#[derive(Deserialize)]
struct UserXml {
    #[serde(rename = "@id")]
    id: Option<String>,
    #[serde(rename = "@username")]
    username: Option<String>,
    #[serde(rename = "@title")]
    title: Option<String>,
    #[serde(rename = "@email")]
    email: Option<String>,
    #[serde(rename = "@thumb")]
    thumb: Option<String>,
    #[serde(rename = "@home")]
    home: Option<String>,
    #[serde(rename = "@restricted")]
    restricted: Option<String>,
    #[serde(rename = "@protected")]
    protected: Option<String>,
    #[serde(rename = "Server", default)]
    servers: Vec<ShareXml>,
}

#[derive(Deserialize)]
struct ShareXml {
    #[serde(rename = "@id")]
    id: Option<String>,
    #[serde(rename = "@serverId")]
    server_id: Option<String>,
    #[serde(rename = "@machineIdentifier")]
    machine_identifier: Option<String>,
    #[serde(rename = "@name")]
    name: Option<String>,
    #[serde(rename = "@pending")]
    pending: Option<String>,
    #[serde(rename = "@allLibraries")]
    all_libraries: Option<String>,
}

#[derive(Deserialize)]
struct PmsServersXml {
    #[serde(rename = "Server", default)]
    servers: Vec<PmsServerXml>,
}

#[derive(Deserialize)]
struct PmsServerXml {
    #[serde(rename = "@name")]
    name: Option<String>,
    #[serde(rename = "@machineIdentifier")]
    machine_identifier: Option<String>,
    #[serde(rename = "@owned")]
    owned: Option<String>,
    #[serde(rename = "@accessToken")]
    access_token: Option<String>,
    #[serde(rename = "@scheme")]
    scheme: Option<String>,
    #[serde(rename = "@address")]
    address: Option<String>,
    #[serde(rename = "@port")]
    port: Option<String>,
    #[serde(rename = "@localAddresses")]
    local_addresses: Option<String>,
    #[serde(rename = "@version")]
    version: Option<String>,
    #[serde(rename = "@sourceTitle")]
    source_title: Option<String>,
}

#[derive(Deserialize)]
struct ErrorsXml {
    #[serde(rename = "error", default)]
    errors: Vec<ErrorXml>,
}

#[derive(Deserialize)]
struct ErrorXml {
    #[serde(rename = "@code")]
    code: Option<String>,
    #[serde(rename = "@message")]
    message: Option<String>,
    #[serde(rename = "$text")]
    text: Option<String>,
}

/// One entry of a plex.tv error body, JSON or XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: Option<i64>,
    pub message: String,
}

/// `"1"`/`"true"` → true; anything else, or absent → false.
pub(crate) fn flag(value: &Option<String>) -> bool {
    value
        .as_deref()
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn int(value: &Option<String>) -> Option<i64> {
    value.as_deref().and_then(|v| v.trim().parse().ok())
}

pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// The name of the first element, so an HTML error page or another document is told apart from an
/// empty list. (A plain scan: prolog, comments and doctype are skipped; serde checks the rest.)
fn root_name(xml: &str) -> Result<String, String> {
    let mut rest = xml.trim_start_matches('\u{feff}').trim_start();
    loop {
        let skip_to = if rest.starts_with("<?") {
            "?>"
        } else if rest.starts_with("<!--") {
            "-->"
        } else if rest.starts_with("<!") {
            ">"
        } else {
            break;
        };
        let end = rest
            .find(skip_to)
            .ok_or("malformed XML (unterminated prolog)")?;
        rest = rest[end + skip_to.len()..].trim_start();
    }
    let name: String = rest
        .strip_prefix('<')
        .ok_or("the answer is not XML")?
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        .collect();
    if name.is_empty() {
        return Err("the answer is not XML".into());
    }
    Ok(name)
}

fn parse_container<'de, T: Deserialize<'de>>(xml: &'de str, what: &str) -> Result<T, String> {
    let root = root_name(xml)?;
    if root != "MediaContainer" {
        return Err(format!(
            "expected an XML MediaContainer with {what}, got <{root}>"
        ));
    }
    quick_xml::de::from_str(xml)
        .map_err(|e| format!("malformed XML ({what}): {}", redact_quoted(&e.to_string())))
}

/// `GET /api/users`: the owner's friends and Home members with their `<Server>` shares.
pub(crate) fn parse_friends(xml: &str) -> Result<Vec<PlexFriend>, String> {
    let container: UsersXml = parse_container(xml, "the friends list")?;
    let mut friends = Vec::with_capacity(container.users.len());
    for user in container.users {
        let Some(id) = int(&user.id) else {
            // One odd entry must not lock everybody else out; it cannot be matched anyway.
            tracing::warn!("plex.tv friends list has a User without a numeric id; skipped");
            continue;
        };
        let servers = user
            .servers
            .into_iter()
            .filter_map(|s| {
                Some(PlexShare {
                    share_id: int(&s.id),
                    server_id: int(&s.server_id),
                    machine_identifier: non_empty(s.machine_identifier)?,
                    name: s.name.unwrap_or_default(),
                    pending: flag(&s.pending),
                    all_libraries: flag(&s.all_libraries),
                })
            })
            .collect();
        friends.push(PlexFriend {
            id,
            username: user.username.unwrap_or_default(),
            title: user.title.unwrap_or_default(),
            email: non_empty(user.email),
            thumb: non_empty(user.thumb),
            home: flag(&user.home),
            restricted: flag(&user.restricted),
            protected: flag(&user.protected),
            servers,
        });
    }
    Ok(friends)
}

/// `GET /pms/servers`: the servers the token's account can see.
pub(crate) fn parse_pms_servers(xml: &str) -> Result<Vec<PlexServer>, String> {
    let container: PmsServersXml = parse_container(xml, "the server list")?;
    let servers = container
        .servers
        .into_iter()
        .filter_map(|s| {
            let machine_identifier = non_empty(s.machine_identifier)?;
            let scheme = non_empty(s.scheme).unwrap_or_else(|| "http".into());
            let port = non_empty(s.port).unwrap_or_else(|| "32400".into());
            let address = non_empty(s.address);
            let mut connections: Vec<PlexConnection> = s
                .local_addresses
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| PlexConnection {
                    uri: format!("{scheme}://{a}:{port}"),
                    local: true,
                })
                .collect();
            if let Some(address) = &address {
                connections.push(PlexConnection {
                    uri: format!("{scheme}://{address}:{port}"),
                    local: false,
                });
            }
            Some(PlexServer {
                name: s.name.unwrap_or_default(),
                machine_identifier,
                owned: flag(&s.owned),
                source_title: non_empty(s.source_title),
                version: non_empty(s.version),
                public_address: address,
                access_token: non_empty(s.access_token).map(PlexToken::from),
                presence: None,
                connections,
            })
        })
        .collect();
    Ok(servers)
}

/// `<errors><error code=".." message=".."/></errors>` or the legacy `<errors><error>text</error></errors>`.
pub(crate) fn parse_errors(xml: &str) -> Vec<ApiError> {
    if root_name(xml).ok().as_deref() != Some("errors") {
        return Vec::new();
    }
    let Ok(parsed) = quick_xml::de::from_str::<ErrorsXml>(xml) else {
        return Vec::new();
    };
    parsed
        .errors
        .into_iter()
        .map(|e| ApiError {
            code: int(&e.code),
            message: non_empty(e.message)
                .or(non_empty(e.text))
                .unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// spec §5.1, verbatim (the Kids entry completed as the spec describes it).
    const USERS_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<MediaContainer friendlyName="myPlex" identifier="com.plexapp.plugins.myplex"
                machineIdentifier="0f7c5d3e2a1b49e8a6c4d2b0e9f8a7c6b5d4e3f2" totalSize="4" size="4">
  <User id="2000002" title="friendly" username="friendly" email="friend@example.com" recommendationsPlaylistId=""
        thumb="https://plex.tv/users/b7e4c2a19f3d5e60/avatar?c=1700000000" protected="0" home="0"
        allowTuners="0" allowSync="1" allowCameraUpload="0" allowChannels="0" allowSubtitleAdmin="0"
        filterAll="" filterMovies="" filterMusic="" filterPhotos="" filterTelevision="" restricted="0">
    <Server id="31000001" serverId="7000001" machineIdentifier="9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d"
            name="HomeServer" lastSeenAt="1700000000" numLibraries="3" allLibraries="1" owned="1" pending="0"/>
  </User>
  <User id="2000003" title="elsewhere" username="elsewhere" email="elsewhere@example.com" recommendationsPlaylistId=""
        thumb="https://plex.tv/users/c1d2e3f4a5b6c7d8/avatar?c=1700000000" protected="0" home="0"
        allowTuners="0" allowSync="0" allowCameraUpload="0" allowChannels="0" allowSubtitleAdmin="0"
        filterAll="" filterMovies="" filterMusic="" filterPhotos="" filterTelevision="" restricted="0">
    <Server id="31000002" serverId="7000002" machineIdentifier="1111222233334444555566667777888899990000"
            name="OtherServer" lastSeenAt="1700000000" numLibraries="1" allLibraries="0" owned="1" pending="0"/>
  </User>
  <User id="2000004" title="justafriend" username="justafriend" email="jf@example.com" recommendationsPlaylistId=""
        thumb="https://plex.tv/users/d1e2f3a4b5c6d7e8/avatar?c=1700000000" protected="0" home="0"
        allowTuners="0" allowSync="0" allowCameraUpload="0" allowChannels="0" allowSubtitleAdmin="0"
        filterAll="" filterMovies="" filterMusic="" filterPhotos="" filterTelevision="" restricted="0"/>
  <User id="2000005" title="Kids" username="" email="" recommendationsPlaylistId=""
        thumb="https://plex.tv/users/e1f2a3b4c5d6e7f8/avatar?c=1700000000" protected="1" home="1"
        allowTuners="0" allowSync="0" allowCameraUpload="0" allowChannels="0" allowSubtitleAdmin="0"
        filterAll="" filterMovies="" filterMusic="" filterPhotos="" filterTelevision="" restricted="1">
    <Server id="31000003" serverId="7000001" machineIdentifier="9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d"
            name="HomeServer" lastSeenAt="1700000000" numLibraries="3" allLibraries="1" owned="1" pending="0"/>
  </User>
</MediaContainer>"#;

    /// spec §6.3, verbatim.
    const PMS_SERVERS_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<MediaContainer friendlyName="myPlex" identifier="com.plexapp.plugins.myplex"
                machineIdentifier="0f7c5d3e2a1b49e8a6c4d2b0e9f8a7c6b5d4e3f2" size="2">
  <Server accessToken="ADMINTOKENxxxxxxxxx01" name="HomeServer" address="203.0.113.10" port="32400"
          version="1.41.3.9314-a0bfb8370" scheme="http" host="203.0.113.10" localAddresses="192.168.1.10"
          machineIdentifier="9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d" createdAt="1600000000" updatedAt="1700000000"
          owned="1" synced="0"/>
  <Server accessToken="SHAREDSERVERTOKEN099" name="OtherServer" address="198.51.100.7" port="32400"
          version="1.40.0.7998-c29d4c0c8" scheme="http" host="198.51.100.7" localAddresses=""
          machineIdentifier="1111222233334444555566667777888899990000" createdAt="1600000000" updatedAt="1700000000"
          owned="0" synced="0" sourceTitle="someoneelse" ownerId="9000009" home="0"/>
</MediaContainer>"#;

    #[test]
    fn friends_list_from_the_spec() {
        let friends = parse_friends(USERS_XML).unwrap();
        assert_eq!(friends.len(), 4);
        let friendly = &friends[0];
        assert_eq!(
            (friendly.id, friendly.username.as_str()),
            (2000002, "friendly")
        );
        assert_eq!(friendly.email.as_deref(), Some("friend@example.com"));
        assert_eq!(friendly.servers[0].share_id, Some(31000001));
        assert_eq!(friendly.servers[0].server_id, Some(7000001));
        assert!(friendly.has_share_on("9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d"));
        assert!(!friends[1].has_share_on("9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d"));
        assert!(friends[2].servers.is_empty());
        let kids = &friends[3];
        assert_eq!(
            (kids.id, kids.username.as_str(), kids.email.as_deref()),
            (2000005, "", None)
        );
        assert!(kids.restricted && kids.home && kids.protected);
        assert_eq!(kids.title, "Kids");
        assert!(kids.has_share_on("9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d"));
    }

    #[test]
    fn friends_tolerates_missing_attributes_and_odd_entries() {
        let xml = r#"<MediaContainer><User id="7"/><User username="noid"/><User id="x"/>
            <User id="8" restricted="true"><Server machineIdentifier="m" pending="1"/><Server id="1"/></User>
            </MediaContainer>"#;
        let friends = parse_friends(xml).unwrap();
        assert_eq!(friends.iter().map(|f| f.id).collect::<Vec<_>>(), vec![7, 8]);
        assert_eq!(friends[0].username, "");
        assert!(friends[1].restricted);
        assert_eq!(
            friends[1].servers.len(),
            1,
            "a Server without machineIdentifier is dropped"
        );
        assert!(
            !friends[1].has_share_on("m"),
            "pending share does not count"
        );
        assert!(parse_friends("<MediaContainer size=\"0\"/>")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for garbage in [
            "",
            "not xml at all",
            "<html><body>502 Bad Gateway</body></html>",
            "<MediaContainer><User id=\"1\"",
            "<MediaContainer><User id=\"1></MediaContainer>",
            "{\"MediaContainer\":{}}",
            "<MediaContainer><User id=\"1\"></Server></MediaContainer>",
            "\u{0}\u{1}<<<>>>",
        ] {
            assert!(parse_friends(garbage).is_err(), "accepted {garbage:?}");
            assert!(parse_pms_servers(garbage).is_err(), "accepted {garbage:?}");
            let _ = parse_errors(garbage);
        }
    }

    #[test]
    fn pms_servers_from_the_spec() {
        let servers = parse_pms_servers(PMS_SERVERS_XML).unwrap();
        assert_eq!(servers.len(), 2);
        let home = &servers[0];
        assert_eq!(home.name, "HomeServer");
        assert_eq!(
            home.machine_identifier,
            "9a6f3c0e5b1d4a2c8e7f6a5b4c3d2e1f0a9b8c7d"
        );
        assert!(home.owned);
        assert_eq!(
            home.access_token.as_ref().map(PlexToken::expose),
            Some("ADMINTOKENxxxxxxxxx01")
        );
        assert_eq!(
            home.connections[0],
            PlexConnection {
                uri: "http://192.168.1.10:32400".into(),
                local: true
            }
        );
        assert_eq!(home.connections[1].uri, "http://203.0.113.10:32400");
        let other = &servers[1];
        assert!(!other.owned);
        assert_eq!(other.source_title.as_deref(), Some("someoneelse"));
        assert_eq!(other.connections.len(), 1);
    }

    #[test]
    fn error_bodies() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<errors>
  <error code="1029" message="Please enter the verification code" status="401"/>
</errors>"#;
        assert_eq!(
            parse_errors(xml),
            vec![ApiError {
                code: Some(1029),
                message: "Please enter the verification code".into()
            }]
        );
        let legacy = "<errors><error>Invalid authentication token.</error></errors>";
        assert_eq!(
            parse_errors(legacy)[0].message,
            "Invalid authentication token."
        );
        assert_eq!(parse_errors(legacy)[0].code, None);
        assert!(parse_errors("<MediaContainer/>").is_empty());
    }
}
