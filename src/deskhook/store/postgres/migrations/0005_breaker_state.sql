-- The circuit breaker's whole state is stored, so replicas share it and a restart resumes it:
-- the circuit is open since this time (or since its last failed probe) while set, closed while
-- NULL. The probe in flight is the channel's one live lease while open.
ALTER TABLE channels ADD COLUMN opened_at bigint;
