-- Outgoing channels, their signing secrets and their delivery health.
-- Times are bigint microseconds since the Unix epoch, UTC, as in the SQLite store: the same
-- conversions, and page tokens that carry them exactly.

CREATE TABLE channels (
    -- seq orders channels by creation for stable paging; id is the public name.
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    name text NOT NULL,
    url text NOT NULL,
    department_id bigint NOT NULL,
    -- Array of event type wire names, e.g. ["ticket_create"].
    subscriptions jsonb NOT NULL,
    retries_enabled boolean NOT NULL,
    -- Array of delays in seconds; NULL means the default schedule.
    retry_schedule jsonb,
    enabled boolean NOT NULL,
    disabled_reason text NOT NULL DEFAULT '',
    ordering text NOT NULL,
    max_concurrency integer NOT NULL,
    rate_limit_per_second integer NOT NULL,
    connection_state text NOT NULL DEFAULT 'untested',
    connection_message text NOT NULL DEFAULT '',
    connection_http_status integer NOT NULL DEFAULT 0,
    connection_failure_reason text NOT NULL DEFAULT '',
    connection_checked_at bigint,
    -- A client's request id makes a retried CreateChannel return the first result; the hash
    -- of the request tells a retry from a different request reusing the id.
    create_request_id text UNIQUE,
    create_request_hash text,
    create_time bigint NOT NULL,
    update_time bigint NOT NULL,
    -- What the circuit breaker and the five-day rule need to survive a restart.
    consecutive_failures integer NOT NULL DEFAULT 0,
    failing_since bigint,
    last_success_time bigint
);

CREATE INDEX channels_by_department ON channels (department_id, seq);
CREATE INDEX channels_by_enabled ON channels (enabled, seq);

CREATE TABLE signing_secrets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id text NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    secret text NOT NULL,
    create_time bigint NOT NULL,
    -- NULL while it is the current secret; set on rotation to the end of its grace period.
    expire_time bigint
);

CREATE INDEX signing_secrets_by_channel ON signing_secrets (channel_id, id);
