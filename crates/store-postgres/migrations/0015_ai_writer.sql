-- The AI writer: drafts cached by context (they hold placeholders, never a lead's data), each
-- generation with its tokens and cost, and each organisation's monthly totals for its budget.

CREATE TABLE ai_cache (
    tenant_id   UUID NOT NULL,
    key         TEXT NOT NULL,
    text        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE ai_generations (
    id             UUID PRIMARY KEY,
    tenant_id      UUID NOT NULL,
    message_key    TEXT NOT NULL,
    model          TEXT NOT NULL,
    input_tokens   BIGINT NOT NULL,
    output_tokens  BIGINT NOT NULL,
    cost_micros    BIGINT NOT NULL,
    cached         BOOLEAN NOT NULL,
    outcome        TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX ai_generations_tenant ON ai_generations(tenant_id, created_at);

CREATE TABLE ai_usage (
    tenant_id      UUID NOT NULL,
    month          TEXT NOT NULL,
    input_tokens   BIGINT NOT NULL,
    output_tokens  BIGINT NOT NULL,
    cost_micros    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month)
);
