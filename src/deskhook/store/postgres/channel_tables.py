"""Channels, their signing secrets and their delivery health, in PostgreSQL."""

from datetime import datetime

import asyncpg

from deskhook.domain.accounts import Scope
from deskhook.domain.breaker import ChannelHealth
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
from deskhook.store.postgres.connection import PostgresConnections
from deskhook.store.postgres.notify import CHANNELS_CHANGED, notify_if_any
from deskhook.store.rows import (
    CHANNEL_COLUMNS,
    HEALTH_COLUMNS,
    channel_from_row,
    created_channel_values,
    health_from_row,
    signing_secrets_from_rows,
)


def _placeholders(count: int) -> str:
    return ", ".join(f"${number}" for number in range(1, count + 1))


def _assignments(values: dict[str, object]) -> str:
    """`column = $n` for every value but the first (the id, bound as $1)."""
    return ", ".join(f"{name} = ${number}" for number, name in enumerate(list(values)[1:], 2))


def in_scope(number: int) -> str:
    """The scope's account, bound as $number (NULL: every account)."""
    return f"(${number}::text IS NULL OR account_id = ${number})"


class ChannelTables(ChannelUpdates, PostgresConnections):
    async def insert_channel(
        self, channel: Channel, signing_secret: str, request: CreateRequest | None
    ) -> None:
        values = created_channel_values(channel, request)
        secret = len(values) + 1
        try:
            await self._pool.execute(
                f"WITH channel AS (INSERT INTO channels ({', '.join(values)})"
                f" VALUES ({_placeholders(len(values))}) RETURNING id, create_time),"
                f" {notify_if_any(CHANNELS_CHANGED, 'channel', secret + 1)}"
                " INSERT INTO signing_secrets (channel_id, secret, create_time)"
                f" SELECT id, ${secret}, create_time FROM channel LEFT JOIN woken ON true",
                *values.values(),
                signing_secret,
                self._sender,
            )
        except asyncpg.UniqueViolationError as error:
            if request is not None and "create_request_id" in (error.constraint_name or ""):
                raise DuplicateCreateRequest(request.request_id) from error
            raise

    async def find_created_channel(self, account_id: str, request_id: str) -> CreatedChannel | None:
        row = await self._pool.fetchrow(
            f"SELECT {CHANNEL_COLUMNS}, create_request_hash,"
            " (SELECT secret FROM signing_secrets WHERE channel_id = channels.id"
            "  ORDER BY id LIMIT 1) AS first_secret"
            " FROM channels WHERE account_id = $1 AND create_request_id = $2",
            account_id,
            request_id,
        )
        if row is None:
            return None
        return CreatedChannel(
            channel_from_row(row), row["create_request_hash"], row["first_secret"]
        )

    async def count_channels(self, account_id: str) -> int:
        count: int = await self._pool.fetchval(
            "SELECT COUNT(*) FROM channels WHERE account_id = $1", account_id
        )
        return count

    async def get_channel(self, scope: Scope, channel_id: str) -> Channel | None:
        row = await self._pool.fetchrow(
            f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = $1 AND {in_scope(2)}",
            channel_id,
            scope.account_id,
        )
        return channel_from_row(row) if row else None

    async def list_channels(
        self, scope: Scope, channel_filter: ChannelFilter, after: int, limit: int
    ) -> list[tuple[int, Channel]]:
        rows = await self._pool.fetch(
            f"SELECT seq, {CHANNEL_COLUMNS} FROM channels"
            f" WHERE seq > $1 AND {in_scope(5)}"
            " AND ($2::bigint IS NULL OR department_id = $2)"
            " AND ($3::boolean IS NULL OR enabled = $3)"
            " ORDER BY seq LIMIT $4",
            after,
            channel_filter.department_id,
            channel_filter.enabled,
            limit,
            scope.account_id,
        )
        return [(row["seq"], channel_from_row(row)) for row in rows]

    async def _update(self, scope: Scope, channel_id: str, values: dict[str, object]) -> bool:
        changed = {"id": channel_id, **values}
        return (
            await self._write(
                f"UPDATE channels SET {_assignments(changed)}"
                f" WHERE id = $1 AND {in_scope(len(changed) + 1)}",
                *changed.values(),
                scope.account_id,
                notify=CHANNELS_CHANGED,
            )
            > 0
        )

    async def delete_channel(self, scope: Scope, channel_id: str) -> bool:
        return (
            await self._write(
                f"DELETE FROM channels WHERE id = $1 AND {in_scope(2)}",
                channel_id,
                scope.account_id,
                notify=CHANNELS_CHANGED,
            )
            > 0
        )

    async def signing_secrets(self, scope: Scope, channel_id: str) -> list[SigningSecret]:
        rows = await self._pool.fetch(
            "SELECT secret, expire_time FROM signing_secrets WHERE channel_id = $1"
            f" AND EXISTS (SELECT 1 FROM channels WHERE id = $1 AND {in_scope(2)})"
            " ORDER BY id DESC",
            channel_id,
            scope.account_id,
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
            # The lock orders rotations of one channel; the statements after it see the last
            # one's secrets (one statement would keep the snapshot from before the wait).
            if not await db.fetchval(
                f"SELECT true FROM channels WHERE id = $1 AND {in_scope(2)} FOR UPDATE",
                channel_id,
                scope.account_id,
            ):
                return False
            await db.execute(
                "DELETE FROM signing_secrets WHERE channel_id = $1 AND expire_time <= $2",
                channel_id,
                to_micros(now),
            )
            await db.execute(
                "UPDATE signing_secrets SET expire_time = $2"
                " WHERE channel_id = $1 AND expire_time IS NULL",
                channel_id,
                to_micros(previous_expire_time),
            )
            await db.execute(
                "INSERT INTO signing_secrets (channel_id, secret, create_time) VALUES ($1, $2, $3)",
                channel_id,
                new_secret,
                to_micros(now),
            )
            await db.execute(f"SELECT pg_notify('{CHANNELS_CHANGED}', $1)", self._sender)
        return True

    async def list_accounts(
        self, scope: Scope, after: str | None, limit: int
    ) -> list[tuple[str, int]]:
        # Byte order, as the other stores, whatever the database's locale.
        rows = await self._pool.fetch(
            'SELECT account_id COLLATE "C" AS account, count(*) AS channels FROM channels'
            f' WHERE ($1::text IS NULL OR account_id COLLATE "C" > $1) AND {in_scope(3)}'
            " GROUP BY 1 ORDER BY 1 LIMIT $2",
            after,
            limit,
            scope.account_id,
        )
        return [(row["account"], row["channels"]) for row in rows]

    async def list_all_channels(self, scope: Scope) -> list[Channel]:
        rows = await self._pool.fetch(
            f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE {in_scope(1)} ORDER BY seq",
            scope.account_id,
        )
        return [channel_from_row(row) for row in rows]

    async def disable_channel(self, channel_id: str, reason: str, now: datetime) -> bool:
        # Under the row's lock: of replicas disabling the channel at once, one changes it.
        disabled = await self._write(
            "UPDATE channels SET enabled = false, disabled_reason = $2, update_time = $3"
            " WHERE id = $1 AND enabled",
            channel_id,
            reason,
            to_micros(now),
            notify=CHANNELS_CHANGED,
        )
        return disabled > 0

    async def channel_health(self) -> dict[str, ChannelHealth]:
        rows = await self._pool.fetch(f"SELECT id, {HEALTH_COLUMNS} FROM channels")
        return {row["id"]: health_from_row(row) for row in rows}
