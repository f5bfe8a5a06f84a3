-- A channel's live leases, counted by every claim, by an index that matches the count's whole
-- condition. The planner chose the one it replaces only once statistics existed: on a table
-- filled faster than autovacuum analyzes it (a first backlog), a claim walked every pending
-- delivery of its channel instead (4.7 ms a claim of 20 against 0.9 ms, 20,000 pending).
DROP INDEX deliveries_leased;
CREATE INDEX deliveries_leases ON deliveries (channel_id, claimed_until)
    WHERE claimed_by IS NOT NULL AND state = 'pending';
