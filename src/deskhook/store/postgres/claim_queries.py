"""The statements of a claim in PostgreSQL (see `deliveries`): the live claim owners, the
channels locked for it, the deliveries it takes and the token buckets it leaves; and when the
next delivery falls due, for the scheduler's timer. Every lookup walks an index whatever plan
PostgreSQL reuses (docs/design.md §5.9)."""

from deskhook.store.postgres.connection import CLAIM_OWNERS
from deskhook.store.rows import HEALTH_COLUMNS

# The claim owner ids of the stores alive now, from their locks (see `connection`).
LIVE_OWNERS = f"""
SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted
    AND classid = {CLAIM_OWNERS} AND objsubid = 2
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

# The channels listed that have a delivery due, locked for the claim in id order: claims of one
# channel wait for each other over every replica, so each counts the leases of the one before,
# and two claims never deadlock. NO KEY UPDATE leaves ingest's foreign-key checks free. The
# first due delivery is looked up per channel in due order, not as an EXISTS: PostgreSQL turns
# an EXISTS into a join, whose plan, once reused, could scan every delivery.
LOCK_CHANNELS = f"""
SELECT c.id, {HEALTH_COLUMNS}, c.rate_tokens, c.rate_updated_at FROM channels c
WHERE c.id = ANY($1::text[]) AND (SELECT d.due_at FROM deliveries d
    WHERE d.channel_id = c.id AND d.state = 'pending' AND d.due_at <= $2
    ORDER BY d.due_at LIMIT 1) IS NOT NULL
ORDER BY c.id
FOR NO KEY UPDATE OF c
"""

# Each channel offers its earliest due deliveries, as many as the claim allows it and its limit
# leaves beside its leases (a per-ticket channel only the earliest pending delivery of each
# ticket), skipping those leased to a live owner or locked by another claim under way; the
# earliest of all these are claimed. A lease counts while the claim would skip it.
CLAIM = f"""
WITH live AS ({LIVE_OWNERS}), leased AS (
    SELECT d.channel_id, count(*) AS leases FROM deliveries d
    WHERE d.channel_id = ANY($1::text[]) AND d.claimed_by IS NOT NULL AND d.state = 'pending'
        AND d.claimed_until > $4 AND d.claimed_by IN (SELECT objid FROM live)
    GROUP BY d.channel_id
), chosen AS (
    SELECT due.id
    FROM unnest($1::text[], $2::integer[], $3::integer[]) AS s(channel_id, allowed, most)
    LEFT JOIN leased l USING (channel_id)
    CROSS JOIN LATERAL (
        SELECT d.id, d.due_at FROM deliveries d
        WHERE d.channel_id = s.channel_id AND d.state = 'pending' AND d.due_at <= $4
            AND (d.claimed_until IS NULL OR d.claimed_until <= $4
                OR d.claimed_by NOT IN (SELECT objid FROM live))
            AND (NOT (s.channel_id = ANY($5::text[])) OR NOT EXISTS (
                SELECT 1 FROM deliveries p WHERE p.channel_id = d.channel_id
                    AND p.ticket_id = d.ticket_id AND p.state = 'pending' AND p.id < d.id))
        ORDER BY d.due_at, d.id
        LIMIT GREATEST(LEAST(s.allowed, s.most - COALESCE(l.leases, 0)), 0)
        FOR UPDATE OF d SKIP LOCKED
    ) due
    ORDER BY due.due_at, due.id LIMIT $6
)
UPDATE deliveries d SET claimed_by = $7, claimed_until = $8
FROM chosen, events e
WHERE d.id = chosen.id AND e.seq = d.event_seq
RETURNING d.id, d.channel_id, e.event_id, e.event_type, d.ticket_id, e.ticket_number,
    e.account_id, d.attempts, e.payload, d.due_at
"""

SAVE_BUCKETS = """
UPDATE channels c SET rate_tokens = b.tokens, rate_updated_at = b.updated
FROM unnest($1::text[], $2::double precision[], $3::bigint[]) AS b(id, tokens, updated)
WHERE c.id = b.id
"""

# When the next of these channels' deliveries falls due after $2. A claimed delivery falls due
# again when its lease runs out: the later of the two times, looked up as each channel's first
# due time in due order (of deliveries whose lease, if any, ends first) and the leases that end
# later, instead of a walk over every pending delivery.
NEXT_DUE = """
SELECT LEAST(
    (SELECT MIN(first.due_at) FROM unnest($1::text[]) AS c(id) CROSS JOIN LATERAL (
        SELECT d.due_at FROM deliveries d
        WHERE d.channel_id = c.id AND d.state = 'pending' AND d.due_at > $2
            AND (d.claimed_until IS NULL OR d.claimed_until <= d.due_at)
        ORDER BY d.due_at LIMIT 1
    ) AS first),
    (SELECT MIN(claimed_until) FROM deliveries
        WHERE state = 'pending' AND claimed_by IS NOT NULL AND channel_id = ANY($1::text[])
            AND claimed_until > $2 AND claimed_until > due_at)
)
"""
