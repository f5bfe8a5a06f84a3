-- Ingested events and their deliveries (the transactional outbox): an event and every delivery
-- it matched are committed in one transaction, before the producer is acked.

CREATE TABLE events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    event_type text NOT NULL,
    ticket_id bigint NOT NULL,
    ticket_number text NOT NULL,
    occurred_at bigint NOT NULL,
    received_at bigint NOT NULL,
    -- How many channels it matched when accepted; a duplicate's ack repeats it.
    matched_channels integer NOT NULL,
    -- The deskhook.v1.Event as published (protobuf binary); the webhook body is rendered from it.
    payload bytea NOT NULL
);

-- Retention looks for old events without deliveries.
CREATE INDEX events_by_received ON events (received_at);

CREATE TABLE deliveries (
    -- Ids follow ingest order: PER_TICKET sends a ticket's deliveries by id.
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_seq bigint NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    channel_id text NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    ticket_id bigint NOT NULL,
    -- pending, delivered or given_up.
    state text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    -- When the next attempt is due (pending deliveries only).
    due_at bigint,
    create_time bigint NOT NULL,
    -- Given up or delivered at this time; retention prunes finished deliveries by it.
    finished_at bigint,
    -- The lease of the store instance attempting it (its claim owner id), until claimed_until.
    -- A lease that ran out, or whose owner's session is gone, may be taken by another.
    claimed_by integer,
    claimed_until bigint,
    UNIQUE (event_seq, channel_id)
);

-- Claims and the scheduler's timer read a channel's earliest due deliveries in a few index
-- steps however long the backlog.
CREATE INDEX deliveries_due_by_channel ON deliveries (channel_id, due_at, id)
    WHERE state = 'pending';
-- PER_TICKET: a ticket's earliest pending delivery.
CREATE INDEX deliveries_by_ticket ON deliveries (channel_id, ticket_id, id)
    WHERE state = 'pending';
-- Redelivery of a channel's failures since a time.
CREATE INDEX deliveries_by_channel ON deliveries (channel_id, state, finished_at);
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE state <> 'pending';
