"""The SQLite store: one file, WAL, foreign keys on.

Three connections: writes go through one, serialised by a lock so that coroutines never
interleave statements inside each other's transactions; reads use another and, thanks to WAL,
see only committed data without waiting for writers. Claims have the third to themselves: a
connection's snapshot lasts while any of its statements is open, so on the shared reader a
claim could miss an attempt recorded a moment before and send the delivery twice."""

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Self

import aiosqlite

from deskhook.domain.channels import Channel, ConnectionStatus
from deskhook.domain.delivery import AttemptOutcome, AttemptRecord, DueDelivery
from deskhook.domain.events import EventType, IngestResult, MatchedEvent
from deskhook.domain.signing import SigningSecret
from deskhook.domain.times import from_micros, to_micros
from deskhook.store.base import (
    ChannelFilter,
    ClaimRules,
    CreatedChannel,
    CreateRequest,
    DuplicateCreateRequest,
    HealthUpdate,
    LogFilter,
    StoreOpenError,
)
from deskhook.store.sqlite.migrations import migrate
from deskhook.store.sqlite.rows import (
    ATTEMPT_COLUMNS,
    CHANNEL_COLUMNS,
    attempt_from_row,
    attempt_values,
    channel_from_row,
    channel_values,
    status_values,
)

# What each attempt outcome leaves its delivery as.
DELIVERY_STATES = {
    AttemptOutcome.DELIVERED: "delivered",
    AttemptOutcome.GIVEN_UP: "given_up",
    AttemptOutcome.RETRY_SCHEDULED: "pending",
}
ATTEMPT_PLACEHOLDERS = ", ".join("?" * len(ATTEMPT_COLUMNS.split(",")))
# SQLite's limit on bound parameters is far higher; this keeps each IN (...) list modest.
LOOKUP_CHUNK = 500
# A writer waits this long for another process's lock before failing.
BUSY_TIMEOUT_MS = 5000
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # FULL: a commit that was acked survives a power loss, not only a crash.
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
)


async def _connect(path: str) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(path, isolation_level=None)
    connection.row_factory = sqlite3.Row
    try:
        for pragma in PRAGMAS:
            await connection.execute(pragma)
    except BaseException:
        await connection.close()
        raise
    return connection


class SqliteStore:
    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        claimer: aiosqlite.Connection,
        version: int,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._claimer = claimer
        self._version = version
        self._write_lock = asyncio.Lock()
        # The writer's synchronous level: FULL (as PRAGMAS set it) while durable.
        self._durable = True
        # Claimed deliveries and the end of their lease (Unix microseconds). One process owns
        # a SQLite file, so claims live here: claiming is a read that never waits for a writer,
        # and a restart starts with none, which releases whatever a crash left in flight.
        self._claims: dict[int, int] = {}

    @classmethod
    async def open(cls, path: str) -> Self:
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            writer = await _connect(path)
        except (OSError, sqlite3.Error) as error:
            raise StoreOpenError(f"cannot open SQLite database {path}: {error}") from error
        readers: list[aiosqlite.Connection] = []
        try:
            version = await migrate(writer)
            for _ in range(2):
                readers.append(await _connect(path))
        except BaseException as error:
            for connection in (*readers, writer):
                await connection.close()
            if isinstance(error, sqlite3.Error):
                raise StoreOpenError(f"cannot prepare SQLite database {path}: {error}") from error
            raise
        reader, claimer = readers
        return cls(writer, reader, claimer, version)

    async def close(self) -> None:
        await self._claimer.close()
        await self._reader.close()
        await self._writer.close()

    async def schema_version(self) -> int:
        return self._version

    @asynccontextmanager
    async def _transaction(self, *, durable: bool = True) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction. `durable=False` is for the attempt log: it skips the fsync, as a
        power loss can only lose the newest such commits, and that costs a resend with the same
        webhook-id. The WAL is written in order,
        so the next durable commit's fsync makes everything before it durable too."""
        async with self._write_lock:
            if durable is not self._durable:
                level = "FULL" if durable else "NORMAL"
                await self._writer.execute(f"PRAGMA synchronous = {level}")
                self._durable = durable
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    async def _write(self, sql: str, parameters: dict[str, object]) -> int:
        """Run one statement in its own transaction; the number of rows it changed."""
        async with self._transaction() as db, db.execute(sql, parameters) as cursor:
            return cursor.rowcount

    async def insert_channel(
        self, channel: Channel, signing_secret: str, request: CreateRequest | None
    ) -> None:
        values = channel_values(channel)
        values["create_request_id"] = request.request_id if request else None
        values["create_request_hash"] = request.request_hash if request else None
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

    async def find_created_channel(self, request_id: str) -> CreatedChannel | None:
        async with self._reader.execute(
            f"SELECT {CHANNEL_COLUMNS}, create_request_hash,"
            " (SELECT secret FROM signing_secrets WHERE channel_id = channels.id"
            "  ORDER BY id LIMIT 1) AS first_secret"
            " FROM channels WHERE create_request_id = ?",
            (request_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return CreatedChannel(
            channel_from_row(row), row["create_request_hash"], row["first_secret"]
        )

    async def get_channel(self, channel_id: str) -> Channel | None:
        async with self._reader.execute(
            f"SELECT {CHANNEL_COLUMNS} FROM channels WHERE id = ?", (channel_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return channel_from_row(row) if row else None

    async def list_channels(
        self, channel_filter: ChannelFilter, after: int, limit: int
    ) -> list[tuple[int, Channel]]:
        async with self._reader.execute(
            f"SELECT seq, {CHANNEL_COLUMNS} FROM channels"
            " WHERE seq > :after"
            " AND (:department_id IS NULL OR department_id = :department_id)"
            " AND (:enabled IS NULL OR enabled = :enabled)"
            " ORDER BY seq LIMIT :limit",
            {
                "after": after,
                "department_id": channel_filter.department_id,
                "enabled": channel_filter.enabled,
                "limit": limit,
            },
        ) as cursor:
            rows = await cursor.fetchall()
        return [(row["seq"], channel_from_row(row)) for row in rows]

    async def update_channel(self, channel: Channel) -> bool:
        values = channel_values(channel)
        assignments = ", ".join(f"{name} = :{name}" for name in values if name != "id")
        return await self._write(f"UPDATE channels SET {assignments} WHERE id = :id", values) > 0

    async def set_connection_status(self, channel_id: str, status: ConnectionStatus) -> bool:
        values = {**status_values(status), "id": channel_id}
        assignments = ", ".join(f"{name} = :{name}" for name in values if name != "id")
        return await self._write(f"UPDATE channels SET {assignments} WHERE id = :id", values) > 0

    async def delete_channel(self, channel_id: str) -> bool:
        return await self._write("DELETE FROM channels WHERE id = :id", {"id": channel_id}) > 0

    async def signing_secrets(self, channel_id: str) -> list[SigningSecret]:
        rows = await self._reader.execute_fetchall(
            "SELECT secret, expire_time FROM signing_secrets WHERE channel_id = ? ORDER BY id DESC",
            (channel_id,),
        )
        return [
            SigningSecret(secret, from_micros(expire) if expire is not None else None)
            for secret, expire in rows
        ]

    async def rotate_secret(
        self, channel_id: str, new_secret: str, now: datetime, previous_expire_time: datetime
    ) -> bool:
        async with self._transaction() as db:
            async with db.execute("SELECT 1 FROM channels WHERE id = ?", (channel_id,)) as cursor:
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

    async def list_all_channels(self) -> list[Channel]:
        async with self._reader.execute(
            f"SELECT {CHANNEL_COLUMNS} FROM channels ORDER BY seq"
        ) as cursor:
            return [channel_from_row(row) for row in await cursor.fetchall()]

    async def ingest(self, events: Sequence[MatchedEvent], now: datetime) -> list[IngestResult]:
        # A few statements per batch, however large: a thread hop per row would cost more than
        # the writes themselves.
        received_at = to_micros(now)
        async with self._transaction() as db:
            async with db.execute("SELECT COALESCE(MAX(seq), 0) FROM events") as cursor:
                row = await cursor.fetchone()
            newest_before = int(row[0]) if row else 0
            await db.executemany(
                "INSERT OR IGNORE INTO events (event_id, event_type, ticket_id, ticket_number,"
                " occurred_at, received_at, matched_channels, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        matched.event.event_id,
                        matched.event.event_type.value,
                        matched.event.ticket_id,
                        matched.event.ticket_number,
                        matched.event.occurred_at_micros,
                        received_at,
                        len(matched.channel_ids),
                        matched.event.payload,
                    )
                    for matched in events
                ],
            )
            stored = await self._stored_events(db, [m.event.event_id for m in events])
            results: list[IngestResult] = []
            deliveries: list[tuple[int, str, int, int, int, str]] = []
            accepted_ids: set[str] = set()
            for matched in events:
                event_id = matched.event.event_id
                seq, matched_channels = stored[event_id]
                # New rows have a seq above the batch's start; of several copies of one event in
                # the batch, only the first inserted the row.
                accepted = seq > newest_before and event_id not in accepted_ids
                if accepted:
                    accepted_ids.add(event_id)
                    deliveries.extend(
                        (
                            seq,
                            channel_id,
                            matched.event.ticket_id,
                            received_at,
                            received_at,
                            channel_id,
                        )
                        for channel_id in matched.channel_ids
                    )
                results.append(IngestResult(accepted, matched_channels))
            # A channel deleted since the matching index was read gets no delivery.
            await db.executemany(
                "INSERT INTO deliveries (event_seq, channel_id, ticket_id, due_at, create_time)"
                " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM channels WHERE id = ?)",
                deliveries,
            )
        return results

    @staticmethod
    async def _stored_events(
        db: aiosqlite.Connection, event_ids: list[str]
    ) -> dict[str, tuple[int, int]]:
        """seq and matched_channels of each stored event among `event_ids`."""
        found: dict[str, tuple[int, int]] = {}
        unique = list(dict.fromkeys(event_ids))
        for start in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[start : start + LOOKUP_CHUNK]
            async with db.execute(
                "SELECT event_id, seq, matched_channels FROM events"
                f" WHERE event_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ) as cursor:
                async for row in cursor:
                    found[row[0]] = (row[1], row[2])
        return found

    async def pending_deliveries(self, channel_ids: Sequence[str]) -> dict[str, int]:
        async with self._reader.execute(
            "SELECT channel_id, COUNT(*) FROM deliveries WHERE state = 'pending'"
            " AND channel_id IN (SELECT value FROM json_each(?)) GROUP BY channel_id",
            (json.dumps(list(channel_ids)),),
        ) as cursor:
            return {row[0]: row[1] for row in await cursor.fetchall()}

    async def channel_health(self) -> dict[str, HealthUpdate]:
        async with self._reader.execute(
            "SELECT id, consecutive_failures, failing_since, last_success_time FROM channels"
        ) as cursor:
            rows = await cursor.fetchall()
        return {
            row[0]: HealthUpdate(
                row[1],
                from_micros(row[2]) if row[2] is not None else None,
                from_micros(row[3]) if row[3] is not None else None,
            )
            for row in rows
        }

    async def redeliver(
        self, channel_id: str, event_id: str | None, failed_since: datetime | None, now: datetime
    ) -> int:
        scope = (
            "event_seq = (SELECT seq FROM events WHERE event_id = :event_id)"
            if event_id is not None
            else "state = 'given_up' AND finished_at >= :since"
        )
        return await self._write(
            "UPDATE deliveries SET state = 'pending', due_at = :now,"
            f" finished_at = NULL WHERE channel_id = :channel_id AND {scope}",
            {
                "channel_id": channel_id,
                "event_id": event_id,
                "since": to_micros(failed_since) if failed_since else None,
                "now": to_micros(now),
            },
        )

    async def release_claims(self, delivery_ids: Sequence[int] | None = None) -> None:
        if delivery_ids is None:
            self._claims.clear()
        for delivery_id in delivery_ids or ():
            self._claims.pop(delivery_id, None)

    async def claim_due(
        self, now: datetime, claim_until: datetime, rules: ClaimRules, limit: int
    ) -> list[DueDelivery]:
        if not rules.slots or limit <= 0:
            return []
        now_micros = to_micros(now)
        self._claims = {id_: until for id_, until in self._claims.items() if until > now_micros}
        # The earliest due deliveries of the channels that may send; a per-ticket channel offers
        # only the earliest pending delivery of each ticket. A read in one step, so its snapshot
        # is fresh: it sees every attempt recorded before it, and waits for no writer.
        candidates = await self._claimer.execute_fetchall(
            "SELECT d.id, d.channel_id, e.event_id, e.event_type, d.ticket_id,"
            " e.ticket_number, d.attempts, e.payload"
            " FROM deliveries d JOIN events e ON e.seq = d.event_seq"
            " WHERE d.state = 'pending' AND d.due_at <= :now"
            " AND d.id NOT IN (SELECT value FROM json_each(:claimed))"
            " AND d.channel_id IN (SELECT value FROM json_each(:channels))"
            " AND (d.channel_id NOT IN (SELECT value FROM json_each(:per_ticket))"
            "  OR NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.channel_id = d.channel_id"
            "   AND p.ticket_id = d.ticket_id AND p.state = 'pending' AND p.id < d.id))"
            " ORDER BY d.due_at, d.id LIMIT :scan",
            {
                "now": now_micros,
                "claimed": json.dumps(list(self._claims)),
                "channels": json.dumps(list(rules.slots)),
                "per_ticket": json.dumps(sorted(rules.per_ticket)),
                # Enough rows for every free slot, with room for rows a full channel skips.
                "scan": min(limit, sum(rules.slots.values())) * 2,
            },
        )
        free = dict(rules.slots)
        claimed: list[DueDelivery] = []
        for row in candidates:
            if free[row[1]] > 0 and len(claimed) < limit:
                free[row[1]] -= 1
                claimed.append(DueDelivery(row[0], row[1], row[2], EventType(row[3]), *row[4:8]))
                self._claims[row[0]] = to_micros(claim_until)
        return claimed

    async def next_due_at(self, channel_ids: Sequence[str]) -> datetime | None:
        async with self._reader.execute(
            "SELECT MIN(due_at) FROM deliveries WHERE state = 'pending'"
            " AND channel_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(channel_ids)),),
        ) as cursor:
            row = await cursor.fetchone()
        return from_micros(row[0]) if row and row[0] is not None else None

    async def finish_attempts(self, attempts: Sequence[tuple[AttemptRecord, HealthUpdate]]) -> None:
        async with self._transaction(durable=False) as db:
            await db.executemany(
                f"INSERT INTO attempts ({ATTEMPT_COLUMNS}) VALUES ({ATTEMPT_PLACEHOLDERS})",
                [attempt_values(record) for record, _ in attempts],
            )
            await db.executemany(
                "UPDATE deliveries SET attempts = ?, state = ?, due_at = ?,"
                " finished_at = ? WHERE id = ?",
                [
                    (
                        record.attempt,
                        DELIVERY_STATES[record.outcome],
                        to_micros(record.next_attempt_at) if record.next_attempt_at else None,
                        None
                        if record.outcome is AttemptOutcome.RETRY_SCHEDULED
                        else to_micros(record.attempted_at),
                        record.delivery_id,
                    )
                    for record, _ in attempts
                ],
            )
            # Several attempts of one channel in a batch: the last one's health stands.
            await db.executemany(
                "UPDATE channels SET consecutive_failures = ?, failing_since = ?,"
                " last_success_time = ? WHERE id = ?",
                [
                    (
                        health.consecutive_failures,
                        to_micros(health.failing_since) if health.failing_since else None,
                        to_micros(health.last_success_time) if health.last_success_time else None,
                        record.channel_id,
                    )
                    for record, health in attempts
                ],
            )
        for record, _ in attempts:
            self._claims.pop(record.delivery_id, None)

    async def disable_channel(self, channel_id: str, reason: str, now: datetime) -> None:
        await self._write(
            "UPDATE channels SET enabled = 0, disabled_reason = :reason, update_time = :now"
            " WHERE id = :id",
            {"reason": reason, "now": to_micros(now), "id": channel_id},
        )

    async def list_attempts(
        self, log_filter: LogFilter, before: tuple[int, int] | None, limit: int
    ) -> list[AttemptRecord]:
        conditions, values = _log_conditions(log_filter)
        if before is not None:
            conditions.append("(attempted_at, id) < (?, ?)")
            values.extend(before)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        async with self._reader.execute(
            f"SELECT id, {ATTEMPT_COLUMNS} FROM attempts{where}"
            " ORDER BY attempted_at DESC, id DESC LIMIT ?",
            (*values, limit),
        ) as cursor:
            return [attempt_from_row(row) for row in await cursor.fetchall()]

    async def prune(self, before: datetime, batch: int) -> int:
        cutoff: dict[str, object] = {"before": to_micros(before), "batch": batch}
        removed = 0
        # Small batches, each its own transaction, so ingest never waits long for the lock.
        for statement in (
            "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts"
            " WHERE attempted_at < :before LIMIT :batch)",
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries"
            " WHERE state != 'pending' AND finished_at < :before LIMIT :batch)",
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events e WHERE received_at < :before"
            " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq)"
            " LIMIT :batch)",
        ):
            removed += await self._write(statement, cutoff)
        return removed


def _log_conditions(log_filter: LogFilter) -> tuple[list[str], list[object]]:
    """SQL conditions and their values for the filters that are set."""
    checks: list[tuple[str, object]] = []
    if log_filter.channel_id:
        checks.append(("channel_id = ?", log_filter.channel_id))
    if log_filter.ticket_id is not None:
        checks.append(("ticket_id = ?", log_filter.ticket_id))
    if log_filter.event_type is not None:
        checks.append(("event_type = ?", log_filter.event_type.value))
    if log_filter.outcome is not None:
        checks.append(("outcome = ?", log_filter.outcome.value))
    if log_filter.start_time is not None:
        checks.append(("attempted_at >= ?", to_micros(log_filter.start_time)))
    if log_filter.end_time is not None:
        checks.append(("attempted_at < ?", to_micros(log_filter.end_time)))
    if log_filter.event_id:
        checks.append(("event_id = ?", log_filter.event_id))
    return [condition for condition, _ in checks], [value for _, value in checks]
