-- Account access tokens (docs/design.md §11). The server keeps no token, only what checks one:
-- the keys that sign tokens, and when each account's tokens were last revoked.
-- Times are integer microseconds since the Unix epoch, UTC.

CREATE TABLE access_token_keys (
    -- The JWT header's `kid`.
    id TEXT PRIMARY KEY,
    -- The HMAC key: 32 random bytes.
    secret BLOB NOT NULL,
    create_time INTEGER NOT NULL
);

CREATE TABLE access_token_revocations (
    account_id TEXT PRIMARY KEY,
    -- Tokens of the account minted before this time are revoked.
    revoked_before INTEGER NOT NULL
);
