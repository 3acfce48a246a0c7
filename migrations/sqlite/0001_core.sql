-- Core schema: groups, users, sessions, settings, audit log, change feed.
-- Integers are 64-bit everywhere (flags too) so one sqlx Any code path reads both databases.

CREATE TABLE groups (
    id          INTEGER PRIMARY KEY,          -- 0 Admin ... 999 Guest (Organizr numbering)
    name        TEXT    NOT NULL,
    name_lc     TEXT    NOT NULL UNIQUE,
    is_default  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

INSERT INTO groups (id, name, name_lc, is_default, created_at) VALUES
    (0, 'Admin', 'admin', 0, 0),
    (1, 'Co-Admin', 'co-admin', 0, 0),
    (2, 'Super User', 'super user', 0, 0),
    (3, 'Power User', 'power user', 0, 0),
    (4, 'User', 'user', 1, 0),
    (999, 'Guest', 'guest', 0, 0);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    username_lc    TEXT    NOT NULL UNIQUE,   -- Unicode-lowercased, for case-insensitive uniqueness
    email          TEXT,
    email_lc       TEXT    UNIQUE,
    password_hash  TEXT,                      -- NULL: this person signs in only through a backend
    group_id       INTEGER NOT NULL REFERENCES groups(id),
    locked         INTEGER NOT NULL DEFAULT 0,
    image          TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash    TEXT    NOT NULL UNIQUE,    -- hex SHA-256 of the cookie token; the token itself is never stored
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    ip            TEXT,
    user_agent    TEXT,
    remember      INTEGER NOT NULL DEFAULT 0,
    method        TEXT    NOT NULL            -- local | plex_password | plex_oauth | setup
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT    NOT NULL,             -- JSON; secrets are stored encrypted as a JSON string
    updated_at  INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor_id    INTEGER,                      -- user who acted; NULL for the CLI or the system
    action      TEXT    NOT NULL,
    target      TEXT,
    ip          TEXT,
    detail      TEXT                          -- JSON, never a secret
);
CREATE INDEX audit_log_at ON audit_log(at);

-- Change feed: every process (server, CLI, other instances) appends here; servers poll it to
-- invalidate caches and reload settings.
CREATE TABLE changes (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    kind     TEXT    NOT NULL,                -- user | session | settings
    subject  TEXT    NOT NULL                 -- user id, token hash, or '*'
);

CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
