-- Outgoing channels and their signing secrets.
-- Times are integer microseconds since the Unix epoch, UTC.

CREATE TABLE channels (
    -- seq orders channels by creation for stable paging; id is the public name.
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    department_id INTEGER NOT NULL,
    -- JSON array of event type wire names, e.g. ["ticket_create"].
    subscriptions TEXT NOT NULL,
    retries_enabled INTEGER NOT NULL,
    -- JSON array of delays in seconds; NULL means the default schedule.
    retry_schedule TEXT,
    enabled INTEGER NOT NULL,
    disabled_reason TEXT NOT NULL DEFAULT '',
    ordering TEXT NOT NULL,
    max_concurrency INTEGER NOT NULL,
    rate_limit_per_second INTEGER NOT NULL,
    connection_state TEXT NOT NULL DEFAULT 'untested',
    connection_message TEXT NOT NULL DEFAULT '',
    connection_http_status INTEGER NOT NULL DEFAULT 0,
    connection_failure_reason TEXT NOT NULL DEFAULT '',
    connection_checked_at INTEGER,
    -- A client's request id makes a retried CreateChannel return the first result; the hash
    -- of the request tells a retry from a different request reusing the id.
    create_request_id TEXT UNIQUE,
    create_request_hash TEXT,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);

CREATE INDEX channels_by_department ON channels (department_id, seq);
CREATE INDEX channels_by_enabled ON channels (enabled, seq);

CREATE TABLE signing_secrets (
    id INTEGER PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    -- NULL while it is the current secret; set on rotation to the end of its grace period.
    expire_time INTEGER
);

CREATE INDEX signing_secrets_by_channel ON signing_secrets (channel_id, id);
