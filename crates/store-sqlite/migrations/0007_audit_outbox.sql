-- Audit entries staged by busy writes (intake, messages, opt-outs), in the same transaction as
-- the change; a background task appends them to their chains in `position` order and deletes
-- them here.
CREATE TABLE audit_outbox (
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    id              BLOB NOT NULL UNIQUE,
    tenant_id       BLOB,
    at              INTEGER NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_kind     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    ip_ct           BLOB,
    correlation_id  TEXT NOT NULL,
    detail          TEXT NOT NULL
) STRICT;
