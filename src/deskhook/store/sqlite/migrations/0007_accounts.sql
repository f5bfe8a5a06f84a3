-- Accounts (docs/design.md §10): every channel, event and log entry belongs to one; what was
-- stored before belongs to the default account, the empty string. Event ids and create request
-- ids become unique per account. SQLite cannot change a column's UNIQUE in place, so `channels`
-- and `events` are rebuilt (the migration runner turns foreign keys off around it; their rows,
-- keys and seq numbers are copied as they are).

CREATE TABLE channels_new (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    -- The account the channel belongs to; '' is the default account. Never changes.
    account_id TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    department_id INTEGER NOT NULL,
    subscriptions TEXT NOT NULL,
    retries_enabled INTEGER NOT NULL,
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
    create_request_id TEXT,
    create_request_hash TEXT,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since INTEGER,
    last_success_time INTEGER,
    opened_at INTEGER,
    UNIQUE (account_id, create_request_id)
);

INSERT INTO channels_new (seq, id, name, url, department_id, subscriptions, retries_enabled,
    retry_schedule, enabled, disabled_reason, ordering, max_concurrency, rate_limit_per_second,
    connection_state, connection_message, connection_http_status, connection_failure_reason,
    connection_checked_at, create_request_id, create_request_hash, create_time, update_time,
    consecutive_failures, failing_since, last_success_time, opened_at)
SELECT seq, id, name, url, department_id, subscriptions, retries_enabled,
    retry_schedule, enabled, disabled_reason, ordering, max_concurrency, rate_limit_per_second,
    connection_state, connection_message, connection_http_status, connection_failure_reason,
    connection_checked_at, create_request_id, create_request_hash, create_time, update_time,
    consecutive_failures, failing_since, last_success_time, opened_at
FROM channels;

DROP TABLE channels;
ALTER TABLE channels_new RENAME TO channels;
CREATE INDEX channels_by_department ON channels (department_id, seq);
CREATE INDEX channels_by_enabled ON channels (enabled, seq);
CREATE INDEX channels_by_account ON channels (account_id, seq);

CREATE TABLE events_new (
    seq INTEGER PRIMARY KEY,
    -- The account of the ticket; '' is the default account. The idempotency key is
    -- (account_id, event_id).
    account_id TEXT NOT NULL DEFAULT '',
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ticket_id INTEGER NOT NULL,
    ticket_number TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    matched_channels INTEGER NOT NULL,
    payload BLOB NOT NULL,
    UNIQUE (account_id, event_id)
);

INSERT INTO events_new (seq, event_id, event_type, ticket_id, ticket_number, occurred_at,
    received_at, matched_channels, payload)
SELECT seq, event_id, event_type, ticket_id, ticket_number, occurred_at, received_at,
    matched_channels, payload
FROM events;

DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

-- The log keeps the account of each attempt: an account token lists only its own.
ALTER TABLE attempts ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
CREATE INDEX attempts_by_account ON attempts (account_id, attempted_at, id);
