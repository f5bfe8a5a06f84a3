"""Deliveries in SQLite: what is due, claims on it, and the outcome of each attempt.

One process owns the file, so what claims count lives in it: the claims themselves and the rate
limits' token buckets (`deskhook.store.process_claims`), and a copy of every channel's stored
health, which recording attempts writes through. A claim is then one read, whatever limits it
keeps."""

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from deskhook.domain.accounts import Scope
from deskhook.domain.breaker import BreakerPolicy, ChannelHealth
from deskhook.domain.delivery import Attempt, AttemptOutcome, DueDelivery
from deskhook.domain.events import EventType
from deskhook.domain.times import from_micros, to_micros
from deskhook.store import rows
from deskhook.store.base import ClaimRules, Finished
from deskhook.store.shared_limits import circuit_changes, recorded_health
from deskhook.store.sqlite.bulk import execute_rows
from deskhook.store.sqlite.channel_tables import IN_SCOPE
from deskhook.store.sqlite.connection import SqliteConnections

# A channel's health from a VALUES row of its id and HEALTH_COLUMNS.
HEALTH_UPDATES = ", ".join(
    f"{name.strip()} = column{number}"
    for number, name in enumerate(rows.HEALTH_COLUMNS.split(","), 2)
)
# Channels per claim statement: SQLite allows 500 terms in a compound SELECT.
CHANNELS_PER_CLAIM = 400


class DeliveryTables(SqliteConnections):
    async def pending_deliveries(self, channel_ids: Sequence[str]) -> dict[str, int]:
        counts = await self._read(
            "SELECT channel_id, COUNT(*) FROM deliveries WHERE state = 'pending'"
            " AND channel_id IN (SELECT value FROM json_each(?)) GROUP BY channel_id",
            (json.dumps(list(channel_ids)),),
        )
        return {row[0]: row[1] for row in counts}

    async def redeliver(
        self,
        scope: Scope,
        channel_id: str,
        event_id: str | None,
        failed_since: datetime | None,
        now: datetime,
    ) -> int:
        chosen = rows.redeliver_scope(event_id, ":target", ":channel_id")
        return await self._write(
            "UPDATE deliveries SET state = 'pending', due_at = :now, finished_at = NULL"
            f" WHERE channel_id = :channel_id AND {chosen}"
            f" AND EXISTS (SELECT 1 FROM channels WHERE id = :channel_id AND {IN_SCOPE})",
            {
                "channel_id": channel_id,
                "account_id": scope.account_id,
                "target": rows.redeliver_target(event_id, failed_since),
                "now": to_micros(now),
            },
        )

    async def _stored_health(self) -> dict[str, ChannelHealth]:
        if self._health is None:
            found = await self._read(f"SELECT id, {rows.HEALTH_COLUMNS} FROM channels")
            # Another call may have read it meanwhile, and recorded attempts since.
            if self._health is None:
                self._health = {row["id"]: rows.health_from_row(row) for row in found}
        return self._health

    async def channel_health(self) -> dict[str, ChannelHealth]:
        return dict(await self._stored_health())

    async def _claim(
        self, now_micros: int, rules: ClaimRules, allowed: dict[str, int], limit: int
    ) -> list[DueDelivery]:
        """Up to `limit` due deliveries, at most `allowed[channel]` of each channel."""
        claimed_ids = json.dumps(list(self._claims))
        channels = [(channel_id, count) for channel_id, count in allowed.items() if count > 0]
        due: list[sqlite3.Row] = []
        for start in range(0, len(channels), CHANNELS_PER_CLAIM):
            sql, parameters = _claim_query(channels[start : start + CHANNELS_PER_CLAIM], rules)
            # One step per statement, so each snapshot is fresh: it sees every attempt recorded
            # before it, and waits for no writer.
            due += await self._claimer.execute_fetchall(
                sql, {**parameters, "now": now_micros, "claimed": claimed_ids}
            )
        due.sort(key=lambda row: (row["due_at"], row["id"]))
        return [
            DueDelivery(
                row["id"],
                row["channel_id"],
                row["event_id"],
                EventType(row["event_type"]),
                row["ticket_id"],
                row["ticket_number"],
                row["account_id"],
                row["attempts"],
                row["payload"],
            )
            for row in due[:limit]
        ]

    async def next_due_at(self, channel_ids: Sequence[str], after: datetime) -> datetime | None:
        # A claimed delivery was due by its claim: in flight, it never wakes the scheduler.
        ((due_at,),) = await self._read(
            "SELECT MIN(due_at) FROM deliveries WHERE state = 'pending'"
            " AND channel_id IN (SELECT value FROM json_each(?)) AND due_at > ?",
            (json.dumps(list(channel_ids)), to_micros(after)),
        )
        return from_micros(due_at) if due_at is not None else None

    async def finish_attempts(
        self, attempts: Sequence[tuple[Attempt, datetime]], breaker: BreakerPolicy
    ) -> Finished:
        stored = await self._stored_health()
        async with self._transaction(durable=False) as db:
            # Counted under the writer's lock: no other batch's results come in between.
            health = recorded_health(stored, attempts, breaker)
            changes = circuit_changes(stored, health)
            await execute_rows(
                db,
                f"INSERT INTO attempts ({rows.ATTEMPT_COLUMNS}) VALUES {{values}}",
                [rows.attempt_values(record) for record, _ in attempts],
            )
            # Under the writer's lock each new row's id is one above the largest before it, so
            # the batch's ids run up to the last one inserted. One trip to the writer's thread,
            # where a cursor would take three.
            ((last_id,),) = await db.execute_fetchall("SELECT last_insert_rowid()")
            await execute_rows(
                db,
                "UPDATE deliveries SET attempts = column1, state = column2, due_at = column3,"
                " finished_at = column4 FROM (VALUES {values}) WHERE id = column5",
                [
                    (
                        record.attempt,
                        rows.DELIVERY_STATES[record.outcome],
                        to_micros(record.next_attempt_at) if record.next_attempt_at else None,
                        None
                        if record.outcome is AttemptOutcome.RETRY_SCHEDULED
                        else to_micros(record.attempted_at),
                        record.delivery_id,
                    )
                    for record, _ in attempts
                ],
            )
            await execute_rows(
                db,
                f"UPDATE channels SET {HEALTH_UPDATES} FROM (VALUES {{values}}) WHERE id = column1",
                [(id_, *rows.health_values(channel)) for id_, channel in health.items()],
            )
        stored.update(health)
        for record, _ in attempts:
            self._claims.pop(record.delivery_id, None)
        first_id = last_id - len(attempts) + 1
        return Finished(
            [replace(record, id=first_id + index) for index, (record, _) in enumerate(attempts)],
            health,
            changes,
        )


def _claim_query(
    channels: Sequence[tuple[str, int]], rules: ClaimRules
) -> tuple[str, dict[str, object]]:
    """The earliest due deliveries of each channel, as many as it has free slots, with their
    events. A query per channel walks that channel's index in due order and stops at its limit,
    however long the backlog; one query over all channels would sort the whole backlog. A
    per-ticket channel offers only the earliest pending delivery of each ticket."""
    parts: list[str] = []
    parameters: dict[str, object] = {}
    for index, (channel_id, slots) in enumerate(channels):
        parameters[f"channel{index}"], parameters[f"slots{index}"] = channel_id, slots
        first_of_ticket = (
            " AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.channel_id = d.channel_id"
            " AND p.ticket_id = d.ticket_id AND p.state = 'pending' AND p.id < d.id)"
            if channel_id in rules.per_ticket
            else ""
        )
        parts.append(
            "SELECT * FROM (SELECT d.id FROM deliveries d"
            f" WHERE d.channel_id = :channel{index} AND d.state = 'pending'"
            " AND d.due_at <= :now AND d.id NOT IN (SELECT value FROM json_each(:claimed))"
            f"{first_of_ticket} ORDER BY d.due_at, d.id LIMIT :slots{index})"
        )
    sql = (
        "SELECT d.id, d.channel_id, d.due_at, e.event_id, e.event_type, d.ticket_id,"
        " e.ticket_number, e.account_id, d.attempts, e.payload"
        " FROM deliveries d JOIN events e ON e.seq = d.event_seq"
        f" WHERE d.id IN ({' UNION ALL '.join(parts)})"
    )
    return sql, parameters
