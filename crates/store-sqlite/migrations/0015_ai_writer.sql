-- The AI writer: drafts cached by context (they hold placeholders, never a lead's data), each
-- generation with its tokens and cost, and each organisation's monthly totals for its budget.

CREATE TABLE ai_cache (
    tenant_id   BLOB NOT NULL,
    key         TEXT NOT NULL,
    text        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT;

CREATE TABLE ai_generations (
    id             BLOB PRIMARY KEY NOT NULL,
    tenant_id      BLOB NOT NULL,
    message_key    TEXT NOT NULL,
    model          TEXT NOT NULL,
    input_tokens   INTEGER NOT NULL,
    output_tokens  INTEGER NOT NULL,
    cost_micros    INTEGER NOT NULL,
    cached         INTEGER NOT NULL,
    outcome        TEXT NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX ai_generations_tenant ON ai_generations(tenant_id, created_at);

CREATE TABLE ai_usage (
    tenant_id      BLOB NOT NULL,
    month          TEXT NOT NULL,
    input_tokens   INTEGER NOT NULL,
    output_tokens  INTEGER NOT NULL,
    cost_micros    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, month)
) STRICT;
