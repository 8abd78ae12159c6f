-- An organisation's secrets (tax id, integration credentials), sealed one by one: the associated
-- data binds each to its organisation and its name. Write-only through the API.

CREATE TABLE tenant_secrets (
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    value_ct    BLOB NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;
