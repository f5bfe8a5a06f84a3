-- Account access tokens (docs/design.md §11). The server keeps no token, only what checks one:
-- the keys that sign tokens, and when each account's tokens were last revoked. Every replica
-- reads both, so a token minted by one is checked, and revoked, by all.
-- Times are bigint microseconds since the Unix epoch, UTC.

CREATE TABLE access_token_keys (
    -- The JWT header's `kid`.
    id text PRIMARY KEY,
    -- The HMAC key: 32 random bytes.
    secret bytea NOT NULL,
    create_time bigint NOT NULL
);

CREATE TABLE access_token_revocations (
    account_id text PRIMARY KEY,
    -- Tokens of the account minted before this time are revoked.
    revoked_before bigint NOT NULL
);
