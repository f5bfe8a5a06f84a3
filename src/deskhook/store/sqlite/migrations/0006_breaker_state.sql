-- The circuit breaker's whole state is stored, so a restart resumes it: the circuit is open
-- since this time (or since its last failed probe) while set, closed while NULL.
ALTER TABLE channels ADD COLUMN opened_at INTEGER;
