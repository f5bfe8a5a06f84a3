-- Delivery: claims on due deliveries, the webhook log (one row per attempt) and channel health.

-- A delivery claimed by the scheduler is not claimed again until this time; a process that
-- dies leaves its claims to expire, and start-up clears them (one process per SQLite file).
ALTER TABLE deliveries ADD COLUMN claimed_until INTEGER;
-- Given up or delivered at this time; retention prunes finished deliveries by it.
ALTER TABLE deliveries ADD COLUMN finished_at INTEGER;

CREATE INDEX deliveries_by_ticket ON deliveries (channel_id, ticket_id, id) WHERE state = 'pending';

CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL,
    -- No foreign keys: the log outlives deleted channels and pruned events until retention.
    channel_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ticket_id INTEGER NOT NULL,
    ticket_number TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    http_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    -- delivered, retry_scheduled or given_up.
    outcome TEXT NOT NULL,
    attempted_at INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    error TEXT NOT NULL,
    failure_reason TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    next_attempt_at INTEGER
);

CREATE INDEX attempts_by_time ON attempts (attempted_at, id);
CREATE INDEX attempts_by_channel ON attempts (channel_id, attempted_at, id);
CREATE INDEX attempts_by_ticket ON attempts (ticket_id, attempted_at, id);
CREATE INDEX attempts_by_event ON attempts (event_id);

-- What the circuit breaker and the five-day rule need to survive a restart.
ALTER TABLE channels ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN failing_since INTEGER;
ALTER TABLE channels ADD COLUMN last_success_time INTEGER;
