-- Claims now live in the process that owns the file: claiming is a read that never waits for a
-- writer's fsync, and a restart starts with none.
ALTER TABLE deliveries DROP COLUMN claimed_until;
