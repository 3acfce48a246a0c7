-- State that used to live in one process's memory and must be shared by every instance on this
-- database, or a request replayed against another instance would succeed or dodge a limit.

-- Fixed-window counters: failed sign-ins per account / look-alike name / client IP (IPv6 per
-- /64), and Plex PINs started per client IP. One row per (scope, subject); the window restarts
-- on the first count after it ended. Rows idle for a day are pruned by the background job.
CREATE TABLE rate_windows (
    scope         TEXT    NOT NULL,   -- 'login_account', 'login_name', 'login_ip', 'plex_pin_ip'
    subject       TEXT    NOT NULL,   -- user id, look-alike key or IP, as text
    window_start  BIGINT  NOT NULL,   -- epoch seconds
    hits          BIGINT  NOT NULL,
    PRIMARY KEY (scope, subject)
);

-- Plex sign-in PINs that already made a session: one session per PIN, on whichever instance
-- the pending cookie is replayed. Kept until the PIN would have expired anyway.
CREATE TABLE used_plex_pins (
    pin_id      BIGINT  PRIMARY KEY,
    expires_at  BIGINT  NOT NULL
);
