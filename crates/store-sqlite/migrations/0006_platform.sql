-- Platform operators sign in outside every organisation: a session's organisation becomes
-- optional (NULL for an operator's session). SQLite cannot drop NOT NULL, so `sessions` is
-- rebuilt; `refresh_tokens`, which references it, is set aside and restored around the rebuild
-- so every foreign key holds at every step.
CREATE TABLE sessions_rebuilt (
    id            BLOB PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users(id),
    tenant_id     BLOB REFERENCES tenants(id),
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    user_agent    TEXT NOT NULL,
    ip_ct         BLOB
) STRICT;
INSERT INTO sessions_rebuilt
    SELECT id, user_id, tenant_id, created_at, last_used_at, expires_at, revoked_at,
           user_agent, ip_ct
    FROM sessions;
CREATE TABLE refresh_tokens_kept AS SELECT * FROM refresh_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
ALTER TABLE sessions_rebuilt RENAME TO sessions;
CREATE INDEX sessions_user ON sessions(user_id, tenant_id, created_at);
CREATE TABLE refresh_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    session_id  BLOB NOT NULL REFERENCES sessions(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;
INSERT INTO refresh_tokens
    SELECT token_hash, session_id, created_at, expires_at, used_at FROM refresh_tokens_kept;
DROP TABLE refresh_tokens_kept;
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

-- An organisation lets platform operators in for a while, with at most the role it names.
CREATE TABLE support_grants (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    role        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    granted_by  BLOB NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE INDEX support_grants_tenant ON support_grants(tenant_id, expires_at);
