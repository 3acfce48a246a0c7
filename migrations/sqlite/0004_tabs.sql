-- Portal tabs (Organizr's `tabs`): what a group sees on the portal, and the names a proxy-auth URL
-- may use instead of a group number (`/api/v2/auth/{tab name}` → the tab's group_id).
CREATE TABLE tabs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    name_lc       TEXT    NOT NULL UNIQUE,     -- lowercased, for case-insensitive uniqueness and lookup
    url           TEXT    NOT NULL,            -- http(s) URL or a path on this host
    icon          TEXT,                        -- icon name or image URL
    group_id      INTEGER NOT NULL,            -- highest group number that sees the tab (Organizr's group_id)
    group_id_max  INTEGER NOT NULL DEFAULT 0,  -- lowest group number that sees it (Organizr's group_id_max)
    kind          TEXT    NOT NULL DEFAULT 'iframe', -- iframe | new_window
    position      INTEGER NOT NULL,            -- display order, ascending
    category      TEXT,
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX tabs_position ON tabs(position);
