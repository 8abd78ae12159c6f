-- Single-use, expiring tokens sent by email: password resets and invitations. Only the token's
-- SHA-256 is stored; the address it went to is sealed.

CREATE TABLE one_time_tokens (
    token_hash  BYTEA PRIMARY KEY,
    id          UUID NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    user_id     UUID REFERENCES users(id),
    tenant_id   UUID REFERENCES tenants(id),
    email_ct    BYTEA NOT NULL,
    role        TEXT,
    created_by  UUID REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX one_time_tokens_tenant ON one_time_tokens(tenant_id, kind, created_at);
