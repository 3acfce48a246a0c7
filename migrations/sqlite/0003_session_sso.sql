-- What single sign-on set for each session, per app instance: drives sign-out (delete exactly the
-- cookies that were set, with their name, domain and path), the debug area and refresh.
CREATE TABLE session_sso (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    app           TEXT    NOT NULL,            -- Tautulli | Ombi | Overseerr | Jellyfin | Plex
    instance      TEXT    NOT NULL,            -- the app's server-side URL
    ok            INTEGER NOT NULL,
    error_code    TEXT,
    error         TEXT,                        -- in words, never a secret
    cookies       TEXT    NOT NULL DEFAULT '[]', -- JSON [{name, domain, path, http_only, expires_at}], no values
    storage       TEXT,                        -- encrypted JSON {key: value} of localStorage items
    used_fallback INTEGER NOT NULL DEFAULT 0,
    elapsed_ms    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER                      -- when the app forgets this sign-in (refresh before)
);
CREATE INDEX session_sso_session ON session_sso(session_id);
