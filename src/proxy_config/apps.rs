//! The apps the generator knows: where they usually listen, and what each needs to live in a
//! subdirectory, in the words of its own settings (checked against each app's documentation).
//! Never claim a setting an app does not have.

/// One known app.
pub(crate) struct Known {
    pub name: &'static str,
    pub upstream: &'static str,
    /// What to set in the app to serve it under PATH (written into the snippet's comment).
    pub subdirectory: &'static str,
    /// Words in a tab's name or URL that mean this app.
    pub aliases: &'static [&'static str],
}

/// Default upstreams and subdirectory settings of the apps the docs cover.
pub(crate) const KNOWN_APPS: &[Known] = &[
    Known {
        name: "grafana",
        upstream: "http://127.0.0.1:3000",
        subdirectory: "in grafana.ini [server] set root_url = https://example.comPATH/ (the \
                       address people open) and serve_from_sub_path = true",
        aliases: &["grafana"],
    },
    Known {
        name: "nzbhydra2",
        upstream: "http://127.0.0.1:5076",
        subdirectory: "Config > Main > URL base = PATH",
        aliases: &["nzbhydra", "hydra"],
    },
    Known {
        name: "calibre-web",
        upstream: "http://127.0.0.1:8083",
        subdirectory: "nothing to set (it has no URL-base setting; the X-Script-Name \
                       header below tells it PATH)",
        aliases: &["calibre"],
    },
    Known {
        name: "tautulli",
        upstream: "http://127.0.0.1:8181",
        subdirectory: "Settings > Web Interface (Show Advanced) > HTTP Root = PATH, and tick \
                       HTTP Proxy there",
        aliases: &["tautulli"],
    },
    Known {
        name: "ombi",
        upstream: "http://127.0.0.1:3579",
        subdirectory: "Settings > Configuration > General > Base Url = PATH",
        aliases: &["ombi"],
    },
    Known {
        name: "overseerr",
        upstream: "http://127.0.0.1:5055",
        subdirectory: "Overseerr has NO base-URL setting and does not work in a subdirectory \
                       (sct/overseerr#274): put it on its own host (--mode subdomain)",
        aliases: &["overseerr"],
    },
    Known {
        name: "jellyfin",
        upstream: "http://127.0.0.1:8096",
        subdirectory: "Dashboard > Networking > Base URL = PATH",
        aliases: &["jellyfin"],
    },
    // Last: "Plex" is also part of other apps' tab names ("Plex Requests").
    Known {
        name: "plex",
        upstream: "http://127.0.0.1:32400",
        subdirectory: "nothing to set (the rewrite below sends Plex Web's /web links back \
                       under /plex/)",
        aliases: &["plex"],
    },
];

/// Apps that sign people in from Usher's `X-WEBAUTH-USER` header.
pub const HEADER_AUTH_APPS: &[&str] = &["calibre-web", "grafana", "nzbhydra2"];

/// The known app a portal tab shows, from words in its name or URL (`Calibre` or
/// `/calibre-web/` → `calibre-web`); `None` when nothing matches.
pub fn guess_app(name: &str, url: &str) -> Option<&'static str> {
    let words = format!("{name} {url}").to_lowercase();
    KNOWN_APPS
        .iter()
        .find(|k| k.aliases.iter().any(|a| words.contains(a)))
        .map(|k| k.name)
}
