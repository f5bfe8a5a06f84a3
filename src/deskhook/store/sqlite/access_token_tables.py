"""Token keys and revocations in SQLite (docs/design.md §11)."""

from collections.abc import Sequence
from datetime import datetime

from deskhook.domain.access_tokens import AccessTokenKey
from deskhook.domain.times import from_micros, to_micros
from deskhook.store.access_token_rows import KEY_COLUMNS, keys_from_rows, revocations_from_rows
from deskhook.store.sqlite.connection import SqliteConnections


class AccessTokenTables(SqliteConnections):
    async def access_token_keys(self) -> list[AccessTokenKey]:
        rows = await self._read(
            f"SELECT {KEY_COLUMNS} FROM access_token_keys ORDER BY create_time DESC, id DESC"
        )
        return keys_from_rows(rows)

    async def add_access_token_key(
        self, key: AccessTokenKey, unless_created_after: datetime
    ) -> bool:
        # BEGIN IMMEDIATE holds the file's write lock from the check to the insert, against
        # this process's other writes and any other process's.
        async with (
            self._transaction() as db,
            db.execute(
                "INSERT INTO access_token_keys (id, secret, create_time) SELECT ?, ?, ?"
                " WHERE NOT EXISTS (SELECT 1 FROM access_token_keys WHERE create_time > ?)",
                (key.id, key.secret, to_micros(key.create_time), to_micros(unless_created_after)),
            ) as cursor,
        ):
            return cursor.rowcount > 0

    async def delete_access_token_keys(self, key_ids: Sequence[str]) -> None:
        async with self._transaction() as db:
            await db.executemany(
                "DELETE FROM access_token_keys WHERE id = ?", [(key_id,) for key_id in key_ids]
            )

    async def revoke_access_tokens(
        self, account_id: str, before: datetime, forget_before: datetime
    ) -> datetime:
        async with self._transaction() as db:
            await db.execute(
                "DELETE FROM access_token_revocations WHERE revoked_before < ?",
                (to_micros(forget_before),),
            )
            (row,) = await db.execute_fetchall(
                "INSERT INTO access_token_revocations (account_id, revoked_before) VALUES (?, ?)"
                " ON CONFLICT (account_id) DO UPDATE"
                " SET revoked_before = max(revoked_before, excluded.revoked_before)"
                " RETURNING revoked_before",
                (account_id, to_micros(before)),
            )
        return from_micros(row["revoked_before"])

    async def access_token_revocations(self) -> dict[str, datetime]:
        rows = await self._read("SELECT account_id, revoked_before FROM access_token_revocations")
        return revocations_from_rows(rows)
