-- Identity (PostgreSQL), column for column the SQLite one: users, memberships, sessions,
-- rate-limit windows, the audit log.

CREATE TABLE users (
    id                    UUID PRIMARY KEY,
    email_ct              BYTEA NOT NULL,
    email_bidx            BYTEA NOT NULL UNIQUE,
    password_hash         TEXT NOT NULL,
    must_change_password  BOOLEAN NOT NULL,
    operator              BOOLEAN NOT NULL,
    created_at            BIGINT NOT NULL,
    password_changed_at   BIGINT NOT NULL,
    disabled_at           BIGINT
);

CREATE TABLE memberships (
    tenant_id   UUID NOT NULL REFERENCES tenants(id),
    user_id     UUID NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id, created_at);

CREATE TABLE sessions (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users(id),
    tenant_id     UUID NOT NULL REFERENCES tenants(id),
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    user_agent    TEXT NOT NULL,
    ip_ct         BYTEA
);
CREATE INDEX sessions_user ON sessions(user_id, tenant_id, created_at);

CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,
    session_id  UUID NOT NULL REFERENCES sessions(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE rate_limits (
    key           TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    count         BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);

CREATE TABLE audit_log (
    chain           TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    id              UUID NOT NULL UNIQUE,
    tenant_id       UUID,
    at              BIGINT NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_kind     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    ip_ct           BYTEA,
    correlation_id  TEXT NOT NULL,
    detail          TEXT NOT NULL,
    prev_hash       BYTEA NOT NULL,
    hash            BYTEA NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
