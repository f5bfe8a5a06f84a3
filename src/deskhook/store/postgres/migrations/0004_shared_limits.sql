-- Limits that hold across replicas: a claim counts a channel's live leases against its
-- concurrency limit, and keeps its rate limit's token bucket on its row.

-- A channel's leases, counted by every claim of it: a few index steps, however long the
-- backlog.
CREATE INDEX deliveries_leased ON deliveries (channel_id) WHERE claimed_by IS NOT NULL;

-- The token bucket of a rate-limited channel as its last claim left it: tokens at the time
-- (Unix microseconds); NULL until then, when the bucket starts full.
ALTER TABLE channels ADD COLUMN rate_tokens double precision;
ALTER TABLE channels ADD COLUMN rate_updated_at bigint;
