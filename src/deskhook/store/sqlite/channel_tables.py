"""Channels, their signing secrets and their delivery health, in SQLite."""

import sqlite3
from datetime import datetime

from deskhook.domain.accounts import Scope
from deskhook.domain.channel_spec import Channel
from deskhook.domain.signing import SigningSecret
from deskhook.domain.times import to_micros
from deskhook.store.base import (
    ChannelFilter,
    CreatedChannel,
    CreateRequest,
    DuplicateCreateRequest,
)
from deskhook.store.channel_updates import ChannelUpdates
from deskhook.store.rows import (
    CHANNEL_COLUMNS,
    channel_from_row,
    created_channel_values,
    signing_secrets_from_rows,
)
from deskhook.store.sqlite.connection import SqliteConnections

# The scope's account, bound as :account_id (NULL: every account).
IN_SCOPE = "(:account_id IS NULL OR account_id = :account_id)"


class ChannelTables(ChannelUpdates, SqliteConnections):
    async def insert_channel(
        self, channel: Channel, signing_secret: str, request: CreateRequest | None
    ) -> None:
        values = created_channel_values(channel, request)
        columns = f"{CHANNEL_COLUMNS}, create_request_id, create_request_hash"
        placeholders = ", ".join(f":{name.strip()}" for name in columns.split(","))
        try:
            async with self._transaction() as db:
                await db.execute(
                    f"INSERT INTO channels ({columns}) VALUES ({placeholders})", values
                )
                await db.execute(
                    "INSERT INTO signing_secrets (channel_id, secret, create_time)"
                    " VALUES (?, ?, ?)",
                    (channel.id, signing_secret, values["create_time"]),
                )
        except sqlite3.IntegrityError as error:
            if request is not None and "create_request_id" in str(error):
                raise DuplicateCreateRequest(request.request_id) from error
            raise

    async def find_created_channel(self, account_id: str, request_id: str) -> CreatedChannel | None:
        rows = await self._read(
            f"SELECT {CHANNEL_COLUMNS}, create_request_hash,"
            " (SELECT secret FROM signing_secrets WHERE channel_id = channels.id"
            "  ORDER BY id LIMIT 1) AS first_secret"
            " FROM channels WHERE account_id = ? AND create_request_id = ?",
            (account_id, request_id),
        )
        if not rows:
            return None
        (row,) = rows
        return CreatedChannel(
            channel_from_row(row), row["create_request_hash"], row["first_secret"]
        )

    async def count_channels(self, account_id: str) -> int:
        ((count,),) = await self._read(
            "SELECT COUNT(*) FROM channels WHERE account_id = ?", (account_id,)
        )
        return int(count)

    async def get_channel(self, scope: Scope, channel_id: str) -> Channel | None:
        rows = await self._read(
            f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = :id AND {IN_SCOPE}",
            {"id": channel_id, "account_id": scope.account_id},
        )
        return channel_from_row(rows[0]) if rows else None

    async def list_channels(
        self, scope: Scope, channel_filter: ChannelFilter, after: int, limit: int
    ) -> list[tuple[int, Channel]]:
        rows = await self._read(
            f"SELECT seq, {CHANNEL_COLUMNS} FROM channels"
            f" WHERE seq > :after AND {IN_SCOPE}"
            " AND (:department_id IS NULL OR department_id = :department_id)"
            " AND (:enabled IS NULL OR enabled = :enabled)"
            " ORDER BY seq LIMIT :limit",
            {
                "account_id": scope.account_id,
                "after": after,
                "department_id": channel_filter.department_id,
                "enabled": channel_filter.enabled,
                "limit": limit,
            },
        )
        return [(row["seq"], channel_from_row(row)) for row in rows]

    async def _update(self, scope: Scope, channel_id: str, values: dict[str, object]) -> bool:
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        return (
            await self._write(
                f"UPDATE channels SET {assignments} WHERE id = :id AND {IN_SCOPE}",
                {**values, "id": channel_id, "account_id": scope.account_id},
            )
            > 0
        )

    async def delete_channel(self, scope: Scope, channel_id: str) -> bool:
        return (
            await self._write(
                f"DELETE FROM channels WHERE id = :id AND {IN_SCOPE}",
                {"id": channel_id, "account_id": scope.account_id},
            )
            > 0
        )

    async def signing_secrets(self, scope: Scope, channel_id: str) -> list[SigningSecret]:
        rows = await self._read(
            "SELECT secret, expire_time FROM signing_secrets WHERE channel_id = :id"
            f" AND EXISTS (SELECT 1 FROM channels WHERE id = :id AND {IN_SCOPE}) ORDER BY id DESC",
            {"id": channel_id, "account_id": scope.account_id},
        )
        return signing_secrets_from_rows(rows)

    async def rotate_secret(
        self,
        scope: Scope,
        channel_id: str,
        new_secret: str,
        now: datetime,
        previous_expire_time: datetime,
    ) -> bool:
        async with self._transaction() as db:
            async with db.execute(
                f"SELECT 1 FROM channels WHERE id = :id AND {IN_SCOPE}",
                {"id": channel_id, "account_id": scope.account_id},
            ) as cursor:
                if await cursor.fetchone() is None:
                    return False
            await db.execute(
                "DELETE FROM signing_secrets WHERE channel_id = ? AND expire_time <= ?",
                (channel_id, to_micros(now)),
            )
            await db.execute(
                "UPDATE signing_secrets SET expire_time = ?"
                " WHERE channel_id = ? AND expire_time IS NULL",
                (to_micros(previous_expire_time), channel_id),
            )
            await db.execute(
                "INSERT INTO signing_secrets (channel_id, secret, create_time) VALUES (?, ?, ?)",
                (channel_id, new_secret, to_micros(now)),
            )
        return True

    async def list_accounts(
        self, scope: Scope, after: str | None, limit: int
    ) -> list[tuple[str, int]]:
        rows = await self._read(
            "SELECT account_id, count(*) AS channels FROM channels"
            f" WHERE (:after IS NULL OR account_id > :after) AND {IN_SCOPE}"
            " GROUP BY account_id ORDER BY account_id LIMIT :limit",
            {"account_id": scope.account_id, "after": after, "limit": limit},
        )
        return [(row["account_id"], row["channels"]) for row in rows]

    async def list_all_channels(self, scope: Scope) -> list[Channel]:
        rows = await self._read(
            f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE {IN_SCOPE} ORDER BY seq",
            {"account_id": scope.account_id},
        )
        return [channel_from_row(row) for row in rows]

    async def disable_channel(self, channel_id: str, reason: str, now: datetime) -> bool:
        disabled = await self._write(
            "UPDATE channels SET enabled = 0, disabled_reason = :reason, update_time = :now"
            " WHERE id = :id AND enabled",
            {"reason": reason, "now": to_micros(now), "id": channel_id},
        )
        return disabled > 0
