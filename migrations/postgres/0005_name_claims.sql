-- Usernames as downstream apps know them. Each account holds a claim on its name's look-alike
-- key (NFKC, full case folding, Unicode TS #39 skeleton: see src/domain/names.rs), so no new
-- name can look like a held one. A deleted or renamed account's claim stays, retired: apps key
-- on the name, so a new account must not inherit the old person's identity there unless an
-- administrator reuses the name on purpose (CLI --reuse-retired-name, API reuse_retired_name).
-- Usher fills the claims of existing accounts at start-up in one transaction (the key needs
-- Unicode tables that SQL does not have); see Store::backfill_name_claims.
CREATE TABLE name_claims (
    name_key    TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,            -- the name as it was last held
    user_id     BIGINT  REFERENCES users(id) ON DELETE SET NULL,  -- holder, or last holder; NULL once deleted
    retired_at  BIGINT,                      -- NULL while held
    created_at  BIGINT  NOT NULL
);
CREATE INDEX name_claims_user ON name_claims(user_id);
