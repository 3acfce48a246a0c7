-- Usher as an OpenID Connect provider (docs/oidc.md): registered relying parties, each person's
-- stable subject, the signing keys, authorization codes and the tokens they became.

-- Relying parties an administrator registered. Secrets are kept as hex SHA-256 of a 256-bit
-- random secret (a fast hash is enough for a value with that much entropy; argon2 would cost
-- every token request tens of milliseconds for nothing).
CREATE TABLE oidc_clients (
    id             TEXT    PRIMARY KEY,        -- client_id
    name           TEXT    NOT NULL,
    secret_hash    TEXT,                       -- NULL for a public client (PKCE instead)
    redirect_uris  TEXT    NOT NULL,           -- JSON list, matched exactly
    max_group      BIGINT  NOT NULL,           -- people whose group number is <= this may sign in
    allow_http     BIGINT  NOT NULL DEFAULT 0, -- http redirect URIs beyond loopback
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);

-- The `sub` claim: a random UUID per person, never reused (not the row id, not the name).
CREATE TABLE oidc_subjects (
    user_id     BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    sub         TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL
);

-- RS256 signing keys, PKCS#1 DER encrypted with the instance key. The newest unretired key
-- signs; a retired one stays published until the id tokens it signed have expired.
CREATE TABLE oidc_keys (
    kid          TEXT    PRIMARY KEY,
    private_key  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    retired_at   BIGINT,
    publish_until BIGINT
);

-- Authorization codes (hex SHA-256 of the code), single use, bound to client, redirect URI
-- and PKCE challenge. A used code keeps the grant it became so a second use can revoke it.
CREATE TABLE oidc_codes (
    code_hash       TEXT    PRIMARY KEY,
    client_id       TEXT    NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    user_id         BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_hash    TEXT    NOT NULL,          -- the Usher session the sign-in came from
    group_id        BIGINT  NOT NULL,          -- the person's group when the code was made
    redirect_uri    TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT,                      -- PKCE S256 challenge
    auth_time       BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    used_at         BIGINT,
    grant_id        TEXT
);

-- Access and refresh tokens (hex SHA-256). One grant per code exchange; refreshing rotates the
-- refresh token inside its grant, and replaying a rotated one deletes the whole grant.
CREATE TABLE oidc_tokens (
    token_hash    TEXT    PRIMARY KEY,
    kind          TEXT    NOT NULL,            -- access | refresh
    grant_id      TEXT    NOT NULL,
    client_id     TEXT    NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    user_id       BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_hash  TEXT    NOT NULL,
    group_id      BIGINT  NOT NULL,            -- the group at issue: a demotion ends the tokens
    scope         TEXT    NOT NULL,
    auth_time     BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    used_at       BIGINT                       -- a refresh token already rotated
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens(grant_id);
CREATE INDEX oidc_tokens_expires ON oidc_tokens(expires_at);
