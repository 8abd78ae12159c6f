-- Audit entries staged by busy writes (intake, messages, opt-outs), in the same transaction as
-- the change; a background task appends them to their chains in `position` order and deletes
-- them here.
CREATE TABLE audit_outbox (
    position        BIGSERIAL PRIMARY KEY,
    id              UUID NOT NULL UNIQUE,
    tenant_id       UUID,
    at              BIGINT NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_kind     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    ip_ct           BYTEA,
    correlation_id  TEXT NOT NULL,
    detail          TEXT NOT NULL
);
