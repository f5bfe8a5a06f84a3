-- The webhook log: one row per attempt.

CREATE TABLE attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL,
    -- No foreign keys: the log outlives deleted channels and pruned events until retention.
    channel_id text NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    ticket_id bigint NOT NULL,
    ticket_number text NOT NULL,
    attempt integer NOT NULL,
    http_status integer NOT NULL,
    response_body text NOT NULL,
    -- delivered, retry_scheduled or given_up.
    outcome text NOT NULL,
    attempted_at bigint NOT NULL,
    duration_us bigint NOT NULL,
    error text NOT NULL,
    failure_reason text NOT NULL,
    webhook_id text NOT NULL,
    next_attempt_at bigint
);

CREATE INDEX attempts_by_time ON attempts (attempted_at, id);
CREATE INDEX attempts_by_channel ON attempts (channel_id, attempted_at, id);
CREATE INDEX attempts_by_ticket ON attempts (ticket_id, attempted_at, id);
CREATE INDEX attempts_by_event ON attempts (event_id);
