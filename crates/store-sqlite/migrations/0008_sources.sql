-- Inbound sources: each bound to one organisation, with its own sealed signing secret.
CREATE TABLE sources (
    id                  BLOB PRIMARY KEY NOT NULL,
    tenant_id           BLOB NOT NULL REFERENCES tenants(id),
    kind                TEXT NOT NULL,
    name                TEXT NOT NULL,
    settings            TEXT NOT NULL,
    secret_ct           BLOB NOT NULL,
    previous_secret_ct  BLOB,
    previous_until      INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    revoked_at          INTEGER
) STRICT;
CREATE INDEX sources_tenant ON sources(tenant_id, created_at);
