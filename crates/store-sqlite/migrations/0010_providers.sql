-- Providers: inbound messages are unique by the provider's id of them (a webhook delivered twice
-- joins the thread once); delivery receipts find outbound messages by it; webhook event ids are
-- remembered for replay defence.

CREATE UNIQUE INDEX messages_inbound_provider_id ON messages(tenant_id, provider, provider_message_id)
    WHERE direction = 'inbound' AND provider_message_id IS NOT NULL;
CREATE INDEX messages_provider_id ON messages(tenant_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

CREATE TABLE webhook_events (
    source_id    BLOB NOT NULL,
    event_id     TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (source_id, event_id)
) STRICT;
CREATE INDEX webhook_events_received ON webhook_events(received_at);
