-- Accounts (docs/design.md §10): every channel, event and log entry belongs to one; what was
-- stored before belongs to the default account, the empty string. Adding a column with a
-- constant default rewrites no row in PostgreSQL 11 and later: existing data moves into the
-- default account at once. Event ids and create request ids become unique per account.

ALTER TABLE channels ADD COLUMN account_id text NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN account_id text NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN account_id text NOT NULL DEFAULT '';

CREATE UNIQUE INDEX events_by_account_event ON events (account_id, event_id);
ALTER TABLE events DROP CONSTRAINT events_event_id_key;

CREATE UNIQUE INDEX channels_by_account_create_request_id ON channels (account_id, create_request_id);
ALTER TABLE channels DROP CONSTRAINT channels_create_request_id_key;
CREATE INDEX channels_by_account ON channels (account_id, seq);

CREATE INDEX attempts_by_account ON attempts (account_id, attempted_at, id);
