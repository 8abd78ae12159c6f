-- Single-use, expiring tokens sent by email: password resets and invitations. Only the token's
-- SHA-256 is stored; the address it went to is sealed.

CREATE TABLE one_time_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    id          BLOB NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    user_id     BLOB REFERENCES users(id),
    tenant_id   BLOB REFERENCES tenants(id),
    email_ct    BLOB NOT NULL,
    role        TEXT,
    created_by  BLOB REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;
CREATE INDEX one_time_tokens_tenant ON one_time_tokens(tenant_id, kind, created_at);
