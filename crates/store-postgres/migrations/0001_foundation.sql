-- Leadline foundation schema (PostgreSQL), column for column the SQLite one.
-- Instants are BIGINT microseconds since the Unix epoch (UTC), like SQLite, so that one row type
-- decodes from either backend. Ids are UUIDv7. Columns ending in _ct hold XChaCha20-Poly1305
-- ciphertexts; _bidx hold HMAC blind indexes. Nothing personal is stored in clear.
-- Tables are created unqualified: they land in the first schema of the connection's search_path.

CREATE TABLE tenants (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL UNIQUE,
    hash          BYTEA NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE leads (
    id             UUID PRIMARY KEY,
    tenant_id      UUID NOT NULL REFERENCES tenants(id),
    status         TEXT NOT NULL,
    source         TEXT NOT NULL,
    name_ct        BYTEA,
    phone_ct       BYTEA,
    email_ct       BYTEA,
    address_ct     BYTEA,
    zip_ct         BYTEA,
    time_zone      TEXT,
    phone_bidx     BYTEA,
    email_bidx     BYTEA,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    last_touch_at  BIGINT NOT NULL,
    touch_count    BIGINT NOT NULL
);
-- One lead per person and tenant: concurrent intakes of the same person meet here, and the
-- loser retries (and then finds the winner's lead).
CREATE UNIQUE INDEX leads_phone ON leads(tenant_id, phone_bidx) WHERE phone_bidx IS NOT NULL;
CREATE UNIQUE INDEX leads_email ON leads(tenant_id, email_bidx) WHERE email_bidx IS NOT NULL;
CREATE INDEX leads_tenant_id ON leads(tenant_id, id);
CREATE INDEX leads_tenant_status ON leads(tenant_id, status, id);
CREATE INDEX leads_tenant_source ON leads(tenant_id, source, id);

CREATE TABLE lead_touches (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL,
    lead_id     UUID NOT NULL REFERENCES leads(id),
    source      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX lead_touches_lead ON lead_touches(tenant_id, lead_id);

CREATE TABLE consent_events (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL,
    lead_id      UUID NOT NULL,
    kind         TEXT NOT NULL,
    source       TEXT NOT NULL,
    evidence_ct  BYTEA NOT NULL,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX consent_events_lead ON consent_events(tenant_id, lead_id, recorded_at);

CREATE TABLE idempotency_keys (
    tenant_id     UUID NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BYTEA NOT NULL,
    lead_id       UUID NOT NULL,
    created       BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE messages (
    id                   UUID PRIMARY KEY,
    tenant_id            UUID NOT NULL,
    lead_id              UUID,
    channel              TEXT NOT NULL,
    direction            TEXT NOT NULL,
    party_ct             BYTEA NOT NULL,
    party_bidx           BYTEA,
    our_addr             TEXT NOT NULL,
    subject_ct           BYTEA,
    body_ct              BYTEA NOT NULL,
    purpose              TEXT,
    status               TEXT NOT NULL,
    error                TEXT,
    provider             TEXT,
    provider_message_id  TEXT,
    job_id               UUID,
    dedupe_key           TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    intake_at            BIGINT,
    provider_called_at   BIGINT
);
CREATE INDEX messages_tenant_id ON messages(tenant_id, id);
CREATE INDEX messages_lead ON messages(tenant_id, lead_id, id);
CREATE INDEX messages_party ON messages(tenant_id, party_bidx, id);
CREATE UNIQUE INDEX messages_dedupe ON messages(tenant_id, dedupe_key) WHERE dedupe_key IS NOT NULL;

CREATE TABLE suppressions (
    tenant_id   UUID NOT NULL,
    bidx        BYTEA NOT NULL,
    channel     TEXT,
    reason      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, bidx)
);

CREATE TABLE jobs (
    id            UUID PRIMARY KEY,
    tenant_id     UUID,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL,
    attempts      BIGINT NOT NULL,
    max_attempts  BIGINT NOT NULL,
    run_at        BIGINT NOT NULL,
    lease_until   BIGINT,
    locked_by     TEXT,
    last_error    TEXT,
    dedupe_key    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs(run_at) WHERE state = 'ready';
CREATE INDEX jobs_running ON jobs(lease_until) WHERE state = 'running';
CREATE INDEX jobs_tenant_state ON jobs(tenant_id, state, id);
-- At most one live job per dedupe key; `enqueue` names this index in its ON CONFLICT clause.
CREATE UNIQUE INDEX jobs_dedupe ON jobs(dedupe_key) WHERE dedupe_key IS NOT NULL AND state IN ('ready', 'running');
