-- Outgoing channels and their signing secrets.
-- Times are integer microseconds since the Unix epoch, UTC.

CREATE TABLE channels (
    -- seq orders channels by creation for stable paging; id is the public name.
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    department_id INTEGER NOT NULL,
    -- JSON array of EventType numbers.
    subscriptions TEXT NOT NULL,
    retries_enabled INTEGER NOT NULL,
    -- JSON array of delays in seconds; NULL means the default schedule.
    retry_schedule TEXT,
    enabled INTEGER NOT NULL,
    disabled_reason TEXT NOT NULL DEFAULT '',
    ordering INTEGER NOT NULL,
    max_concurrency INTEGER NOT NULL,
    rate_limit_per_second INTEGER NOT NULL,
    connection_state INTEGER NOT NULL DEFAULT 0,
    connection_message TEXT NOT NULL DEFAULT '',
    connection_http_status INTEGER NOT NULL DEFAULT 0,
    connection_failure_reason INTEGER NOT NULL DEFAULT 0,
    connection_checked_at INTEGER,
    -- A client's request id makes a retried CreateChannel return the first result.
    create_request_id TEXT UNIQUE,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);

CREATE INDEX channels_by_department ON channels (department_id, seq);

CREATE TABLE signing_secrets (
    channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    -- NULL while it is the current secret; set on rotation to the end of its grace period.
    expire_time INTEGER,
    PRIMARY KEY (channel_id, create_time)
);
