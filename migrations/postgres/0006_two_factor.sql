-- Two-factor sign-in (TOTP, RFC 6238) for local accounts. The secret is encrypted with the
-- instance key (src/crypto.rs); until confirmed_at is set the enrolment is pending and not
-- required at sign-in. last_step is the last 30-second time step a code was accepted for: a
-- code is accepted only for a later step, so none is accepted twice.
CREATE TABLE two_factor (
    user_id       BIGINT  PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret        TEXT    NOT NULL,
    confirmed_at  BIGINT,
    last_step     BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL
);

-- One-time recovery codes, stored as SHA-256 of the code (they are random, 50 bits each).
CREATE TABLE two_factor_recovery (
    user_id    BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
