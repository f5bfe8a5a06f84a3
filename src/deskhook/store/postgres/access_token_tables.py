"""Token keys and revocations in PostgreSQL, shared by every replica (docs/design.md §11).
Replicas read both often enough (see deskhook.core.access_tokens) that writes notify nobody."""

from collections.abc import Sequence
from datetime import datetime

from deskhook.domain.access_tokens import AccessTokenKey
from deskhook.domain.times import from_micros, to_micros
from deskhook.store.access_token_rows import KEY_COLUMNS, keys_from_rows, revocations_from_rows
from deskhook.store.postgres.connection import PostgresConnections


class AccessTokenTables(PostgresConnections):
    async def access_token_keys(self) -> list[AccessTokenKey]:
        rows = await self._pool.fetch(
            f"SELECT {KEY_COLUMNS} FROM access_token_keys ORDER BY create_time DESC, id DESC"
        )
        return keys_from_rows(rows)

    async def add_access_token_key(
        self, key: AccessTokenKey, unless_created_after: datetime
    ) -> bool:
        async with self._transaction() as db:
            # Adds wait for each other (this mode conflicts with itself), reads do not: the
            # check below then sees any key another replica has just added.
            await db.execute("LOCK TABLE access_token_keys IN SHARE ROW EXCLUSIVE MODE")
            added: int = await db.fetchval(
                "WITH added AS (INSERT INTO access_token_keys (id, secret, create_time)"
                " SELECT $1, $2, $3"
                " WHERE NOT EXISTS (SELECT 1 FROM access_token_keys WHERE create_time > $4)"
                " RETURNING 1) SELECT count(*) FROM added",
                key.id,
                key.secret,
                to_micros(key.create_time),
                to_micros(unless_created_after),
            )
        return added > 0

    async def delete_access_token_keys(self, key_ids: Sequence[str]) -> None:
        await self._pool.execute(
            "DELETE FROM access_token_keys WHERE id = ANY($1::text[])", list(key_ids)
        )

    async def revoke_access_tokens(
        self, account_id: str, before: datetime, forget_before: datetime
    ) -> datetime:
        stored: int = await self._pool.fetchval(
            "WITH forgotten AS (DELETE FROM access_token_revocations"
            "  WHERE revoked_before < $3 AND account_id <> $1)"
            " INSERT INTO access_token_revocations (account_id, revoked_before) VALUES ($1, $2)"
            " ON CONFLICT (account_id) DO UPDATE"
            " SET revoked_before = GREATEST(access_token_revocations.revoked_before,"
            "  excluded.revoked_before)"
            " RETURNING revoked_before",
            account_id,
            to_micros(before),
            to_micros(forget_before),
        )
        return from_micros(stored)

    async def access_token_revocations(self) -> dict[str, datetime]:
        rows = await self._pool.fetch(
            "SELECT account_id, revoked_before FROM access_token_revocations"
        )
        return revocations_from_rows(rows)
