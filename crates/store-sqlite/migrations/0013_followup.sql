-- Keeping leads moving: their timeline (status changes, notes, appointments, runs started),
-- engagement scores, silent-lead recovery, and appointments with their reminders.

-- Timeline entries that are neither messages nor consent events. `data` is JSON without personal
-- data; a note's text is sealed in `note_ct`.
CREATE TABLE lead_events (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   BLOB NOT NULL,
    lead_id     BLOB NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    data        TEXT NOT NULL,
    note_ct     BLOB,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX lead_events_lead ON lead_events(tenant_id, lead_id, created_at);

-- Engagement: the score as of `engagement_at`; it decays when read (see domain::engagement).
ALTER TABLE leads ADD COLUMN engagement REAL NOT NULL DEFAULT 0;
ALTER TABLE leads ADD COLUMN engagement_at INTEGER;
-- Recovery: when the lead's current silence began (their last inquiry or reply, or our last
-- recovery attempt); NULL once the relationship window has passed, which takes the lead out of
-- the recovery index for good (until they speak again).
ALTER TABLE leads ADD COLUMN quiet_since INTEGER;
ALTER TABLE leads ADD COLUMN recovery_attempts INTEGER NOT NULL DEFAULT 0;
UPDATE leads SET quiet_since = last_touch_at;
CREATE INDEX leads_recovery ON leads(tenant_id, status, recovery_attempts, quiet_since)
    WHERE quiet_since IS NOT NULL;

-- How a run started: `manual` (the API), `intake` (a source rule), `recovery`.
ALTER TABLE enrolments ADD COLUMN origin TEXT NOT NULL DEFAULT 'manual';

CREATE TABLE appointments (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL,
    lead_id      BLOB NOT NULL REFERENCES leads(id),
    state        TEXT NOT NULL,
    starts_at    INTEGER NOT NULL,
    ends_at      INTEGER NOT NULL,
    time_zone    TEXT NOT NULL,
    title        TEXT NOT NULL,
    location_ct  BLOB,
    revision     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX appointments_lead ON appointments(tenant_id, lead_id, starts_at);
