-- Sign in with Plex: the Plex account a user is linked to, and their Plex token (encrypted with the
-- instance key, "enc:v1:…"; for the SSO issue). Linking is by Plex id or e-mail, never by username.

ALTER TABLE users ADD COLUMN plex_id BIGINT;             -- plex.tv numeric account id; NULL: not linked
ALTER TABLE users ADD COLUMN plex_username TEXT;         -- as plex.tv last said (empty for managed Home users)
ALTER TABLE users ADD COLUMN plex_token TEXT;            -- encrypted; never logged, never shown
ALTER TABLE users ADD COLUMN plex_seen_at BIGINT;        -- last Plex sign-in
CREATE UNIQUE INDEX users_plex_id ON users(plex_id);     -- NULLs do not collide
