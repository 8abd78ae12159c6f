-- Platform operators sign in outside every organisation: a session's organisation becomes
-- optional (NULL for an operator's session).
ALTER TABLE sessions ALTER COLUMN tenant_id DROP NOT NULL;

-- An organisation lets platform operators in for a while, with at most the role it names.
CREATE TABLE support_grants (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants(id),
    role        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    granted_by  UUID NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX support_grants_tenant ON support_grants(tenant_id, expires_at);
