-- Compliance: the suppression list becomes the organisation's internal do-not-call list (entries
-- keep their sealed address for export, who added them, and are lifted rather than deleted), the
-- national do-not-call registry snapshot, and the review queue of free-text opt-outs.

ALTER TABLE suppressions ADD COLUMN source TEXT;
ALTER TABLE suppressions ADD COLUMN address_ct BYTEA;
ALTER TABLE suppressions ADD COLUMN lifted_at BIGINT;
ALTER TABLE suppressions ADD COLUMN updated_at BIGINT;

-- The organisation's latest registry snapshot: one row per organisation.
CREATE TABLE dnc_registry_snapshots (
    tenant_id    UUID PRIMARY KEY NOT NULL,
    taken_at     BIGINT NOT NULL,
    imported_at  BIGINT NOT NULL,
    numbers      BIGINT NOT NULL
);

-- The snapshot's numbers, as blind indexes under the organisation's key.
CREATE TABLE dnc_registry (
    tenant_id  UUID NOT NULL,
    bidx       BYTEA NOT NULL,
    PRIMARY KEY (tenant_id, bidx)
);

CREATE TABLE compliance_reviews (
    id           UUID PRIMARY KEY NOT NULL,
    tenant_id    UUID NOT NULL,
    lead_id      UUID,
    message_id   UUID NOT NULL,
    matched      TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    resolved_at  BIGINT,
    resolved_by  TEXT
);
CREATE INDEX compliance_reviews_state ON compliance_reviews(tenant_id, state, id);

-- Frequency caps count a person's recent outbound messages.
CREATE INDEX messages_party_created ON messages(tenant_id, party_bidx, created_at);
