-- Follow-up sequences: each edit is a new version (runs keep the version they started on), and
-- each lead's run is an enrolment whose next step is a job.

CREATE TABLE sequences (
    id           BLOB PRIMARY KEY,
    tenant_id    BLOB NOT NULL REFERENCES tenants(id),
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    archived_at  INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX sequences_tenant ON sequences(tenant_id, created_at);

CREATE TABLE sequence_versions (
    sequence_id  BLOB NOT NULL REFERENCES sequences(id),
    version      INTEGER NOT NULL,
    tenant_id    BLOB NOT NULL,
    name         TEXT NOT NULL,
    definition   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (sequence_id, version)
) STRICT;

CREATE TABLE enrolments (
    id           BLOB PRIMARY KEY,
    tenant_id    BLOB NOT NULL,
    lead_id      BLOB NOT NULL REFERENCES leads(id),
    sequence_id  BLOB NOT NULL REFERENCES sequences(id),
    version      INTEGER NOT NULL,
    state        TEXT NOT NULL,
    step         INTEGER NOT NULL,
    next_run_at  INTEGER,
    exit_reason  TEXT,
    enrolled_at  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
-- One active run of a sequence per lead.
CREATE UNIQUE INDEX enrolments_one_active ON enrolments(tenant_id, lead_id, sequence_id)
    WHERE state = 'active';
CREATE INDEX enrolments_lead ON enrolments(tenant_id, lead_id, enrolled_at);
CREATE INDEX enrolments_due ON enrolments(next_run_at) WHERE state = 'active';
