-- Ingested events and their deliveries (the transactional outbox): an event and every delivery
-- it matched are committed in one transaction, before the producer is acked.

CREATE TABLE events (
    -- seq grows with every insert; a batch tells its new rows by seq > the max before it.
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    ticket_id INTEGER NOT NULL,
    ticket_number TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    -- How many channels it matched when accepted; a duplicate's ack repeats it.
    matched_channels INTEGER NOT NULL,
    -- The deskhook.v1.Event as published (protobuf binary); the webhook body is rendered from it.
    payload BLOB NOT NULL
);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    event_seq INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    ticket_id INTEGER NOT NULL,
    -- pending, delivered or given_up.
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    -- When the next attempt is due (pending deliveries only).
    due_at INTEGER,
    create_time INTEGER NOT NULL,
    UNIQUE (event_seq, channel_id)
);

CREATE INDEX deliveries_due ON deliveries (due_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_channel ON deliveries (channel_id, state);
