-- Inbound sources: each bound to one organisation, with its own sealed signing secret.
CREATE TABLE sources (
    id                  UUID PRIMARY KEY,
    tenant_id           UUID NOT NULL REFERENCES tenants(id),
    kind                TEXT NOT NULL,
    name                TEXT NOT NULL,
    settings            TEXT NOT NULL,
    secret_ct           BYTEA NOT NULL,
    previous_secret_ct  BYTEA,
    previous_until      BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    revoked_at          BIGINT
);
CREATE INDEX sources_tenant ON sources(tenant_id, created_at);
