-- Compliance: the suppression list becomes the organisation's internal do-not-call list (entries
-- keep their sealed address for export, who added them, and are lifted rather than deleted), the
-- national do-not-call registry snapshot, and the review queue of free-text opt-outs.

ALTER TABLE suppressions ADD COLUMN source TEXT;
ALTER TABLE suppressions ADD COLUMN address_ct BLOB;
ALTER TABLE suppressions ADD COLUMN lifted_at INTEGER;
ALTER TABLE suppressions ADD COLUMN updated_at INTEGER;

-- The organisation's latest registry snapshot: one row per organisation.
CREATE TABLE dnc_registry_snapshots (
    tenant_id    BLOB PRIMARY KEY NOT NULL,
    taken_at     INTEGER NOT NULL,
    imported_at  INTEGER NOT NULL,
    numbers      INTEGER NOT NULL
) STRICT;

-- The snapshot's numbers, as blind indexes under the organisation's key.
CREATE TABLE dnc_registry (
    tenant_id  BLOB NOT NULL,
    bidx       BLOB NOT NULL,
    PRIMARY KEY (tenant_id, bidx)
) STRICT;

CREATE TABLE compliance_reviews (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL,
    lead_id      BLOB,
    message_id   BLOB NOT NULL,
    matched      TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    resolved_at  INTEGER,
    resolved_by  TEXT
) STRICT;
CREATE INDEX compliance_reviews_state ON compliance_reviews(tenant_id, state, id);

-- Frequency caps count a person's recent outbound messages.
CREATE INDEX messages_party_created ON messages(tenant_id, party_bidx, created_at);
