-- Leadline foundation schema (SQLite).
-- Instants are INTEGER microseconds since the Unix epoch (UTC). Ids are 16-byte UUIDv7 blobs.
-- Columns ending in _ct hold XChaCha20-Poly1305 ciphertexts; _bidx hold HMAC blind indexes.

CREATE TABLE tenants (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id            BLOB PRIMARY KEY NOT NULL,
    tenant_id     BLOB NOT NULL REFERENCES tenants(id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL UNIQUE,
    hash          BLOB NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE leads (
    id             BLOB PRIMARY KEY NOT NULL,
    tenant_id      BLOB NOT NULL REFERENCES tenants(id),
    status         TEXT NOT NULL,
    source         TEXT NOT NULL,
    name_ct        BLOB,
    phone_ct       BLOB,
    email_ct       BLOB,
    address_ct     BLOB,
    zip_ct         BLOB,
    time_zone      TEXT,
    phone_bidx     BLOB,
    email_bidx     BLOB,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    last_touch_at  INTEGER NOT NULL,
    touch_count    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX leads_phone ON leads(tenant_id, phone_bidx) WHERE phone_bidx IS NOT NULL;
CREATE UNIQUE INDEX leads_email ON leads(tenant_id, email_bidx) WHERE email_bidx IS NOT NULL;
CREATE INDEX leads_tenant_id ON leads(tenant_id, id);
CREATE INDEX leads_tenant_status ON leads(tenant_id, status, id);
CREATE INDEX leads_tenant_source ON leads(tenant_id, source, id);

CREATE TABLE lead_touches (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   BLOB NOT NULL,
    lead_id     BLOB NOT NULL REFERENCES leads(id),
    source      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX lead_touches_lead ON lead_touches(tenant_id, lead_id);

CREATE TABLE consent_events (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL,
    lead_id      BLOB NOT NULL,
    kind         TEXT NOT NULL,
    source       TEXT NOT NULL,
    evidence_ct  BLOB NOT NULL,
    recorded_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX consent_events_lead ON consent_events(tenant_id, lead_id, recorded_at);

CREATE TABLE idempotency_keys (
    tenant_id     BLOB NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    lead_id       BLOB NOT NULL,
    created       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT;

CREATE TABLE messages (
    id                   BLOB PRIMARY KEY NOT NULL,
    tenant_id            BLOB NOT NULL,
    lead_id              BLOB,
    channel              TEXT NOT NULL,
    direction            TEXT NOT NULL,
    party_ct             BLOB NOT NULL,
    party_bidx           BLOB,
    our_addr             TEXT NOT NULL,
    subject_ct           BLOB,
    body_ct              BLOB NOT NULL,
    purpose              TEXT,
    status               TEXT NOT NULL,
    error                TEXT,
    provider             TEXT,
    provider_message_id  TEXT,
    job_id               BLOB,
    dedupe_key           TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    intake_at            INTEGER,
    provider_called_at   INTEGER
) STRICT;
CREATE INDEX messages_tenant_id ON messages(tenant_id, id);
CREATE INDEX messages_lead ON messages(tenant_id, lead_id, id);
CREATE INDEX messages_party ON messages(tenant_id, party_bidx, id);
CREATE UNIQUE INDEX messages_dedupe ON messages(tenant_id, dedupe_key) WHERE dedupe_key IS NOT NULL;

CREATE TABLE suppressions (
    tenant_id   BLOB NOT NULL,
    bidx        BLOB NOT NULL,
    channel     TEXT,
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, bidx)
) STRICT;

CREATE TABLE jobs (
    id            BLOB PRIMARY KEY NOT NULL,
    tenant_id     BLOB,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    max_attempts  INTEGER NOT NULL,
    run_at        INTEGER NOT NULL,
    lease_until   INTEGER,
    locked_by     TEXT,
    last_error    TEXT,
    dedupe_key    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX jobs_ready ON jobs(run_at) WHERE state = 'ready';
CREATE INDEX jobs_running ON jobs(lease_until) WHERE state = 'running';
CREATE INDEX jobs_tenant_state ON jobs(tenant_id, state, id);
CREATE UNIQUE INDEX jobs_dedupe ON jobs(dedupe_key) WHERE dedupe_key IS NOT NULL AND state IN ('ready', 'running');
