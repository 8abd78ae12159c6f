-- Identity (SQLite): users, memberships, sessions, rate-limit windows, the audit log.
-- Users are outside every tenant: their email is sealed and blind-indexed under the platform
-- scope (the nil UUID).

CREATE TABLE users (
    id                    BLOB PRIMARY KEY NOT NULL,
    email_ct              BLOB NOT NULL,
    email_bidx            BLOB NOT NULL UNIQUE,
    password_hash         TEXT NOT NULL,
    must_change_password  INTEGER NOT NULL,
    operator              INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    password_changed_at   INTEGER NOT NULL,
    disabled_at           INTEGER
) STRICT;

CREATE TABLE memberships (
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    user_id     BLOB NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) STRICT;
CREATE INDEX memberships_user ON memberships(user_id, created_at);

-- A session is a family of refresh tokens; only its newest unused token is live.
CREATE TABLE sessions (
    id            BLOB PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users(id),
    tenant_id     BLOB NOT NULL REFERENCES tenants(id),
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    user_agent    TEXT NOT NULL,
    ip_ct         BLOB
) STRICT;
CREATE INDEX sessions_user ON sessions(user_id, tenant_id, created_at);

CREATE TABLE refresh_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    session_id  BLOB NOT NULL REFERENCES sessions(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE rate_limits (
    key           TEXT NOT NULL,
    window_start  INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
) STRICT;

-- Append-only, one hash chain per organisation ("platform" for the rest).
CREATE TABLE audit_log (
    chain           TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    id              BLOB NOT NULL UNIQUE,
    tenant_id       BLOB,
    at              INTEGER NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_kind     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    ip_ct           BLOB,
    correlation_id  TEXT NOT NULL,
    detail          TEXT NOT NULL,
    prev_hash       BLOB NOT NULL,
    hash            BLOB NOT NULL,
    PRIMARY KEY (chain, seq)
) STRICT;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
