"""Deliveries in PostgreSQL: what is due, leases on it, and the outcome of each attempt.

Claims are leases in the table, so that replicas sharing the database share the work: a claim
sets `claimed_by` (the store's claim owner id, see `connection`) and `claimed_until`, and takes
its rows with `FOR UPDATE SKIP LOCKED`, so two replicas claiming at once never take the same
delivery. A delivery may be claimed again once its lease has run out.

A lease whose owner is gone counts for nothing: its claim owner lock went with its session (a
replica that died or restarted), so the others claim its deliveries at once rather than a lease
later. `release_claims()` without ids (called on start) releases this store's own and those,
never another live replica's, which are attempts in flight. An owner cut off from the database
by a network fault loses its claims the same way; at worst an attempt is sent twice, with the
same webhook-id, which at-least-once delivery allows.

A claim is also where a channel's limits hold over every replica: one short transaction locks
the rows of the channels it looks at (so claims of one channel take turns), holds those whose
stored circuit is open until their probe is due, counts each one's live leases against its
concurrency limit (one while its circuit is open: the probe), and refills and spends the token
bucket kept on its row. Four round trips (BEGIN, lock, claim, COMMIT), a fifth when a
rate-limited channel took some; three when nothing is due. Recording attempts locks the same
rows, in the same order, to count their results into the stored health (BEGIN, lock, record,
COMMIT), except for the channels whose results change nothing worth a write (successes of a
healthy channel within a minute of the stored last success): those rows it leaves alone,
so that claims do not wait for it, and with no row to lock a recording is one statement. The
claims and the recordings have connections of their own, whose sessions plan as they need
(`connection.Pools`)."""

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import asyncpg

from deskhook.domain.accounts import Scope
from deskhook.domain.breaker import BreakerPolicy
from deskhook.domain.delivery import Attempt, AttemptOutcome, DueDelivery
from deskhook.domain.events import EventType
from deskhook.domain.limits import most_leased
from deskhook.domain.rate import TokenBucket
from deskhook.domain.times import from_micros, to_micros
from deskhook.store.base import Claimed, ClaimRules, Finished
from deskhook.store.postgres.channel_tables import in_scope
from deskhook.store.postgres.claim_queries import (
    CLAIM,
    LIVE_OWNERS,
    LOCK_CHANNELS,
    NEXT_DUE,
    SAVE_BUCKETS,
)
from deskhook.store.postgres.connection import PostgresConnections
from deskhook.store.postgres.notify import DELIVERIES_DUE
from deskhook.store.rows import (
    ATTEMPT_COLUMNS,
    DELIVERY_STATES,
    HEALTH_COLUMNS,
    attempt_values,
    health_from_row,
    health_values,
    optional_micros,
    redeliver_scope,
    redeliver_target,
)
from deskhook.store.shared_limits import (
    allowances,
    circuit_changes,
    counted_without_change,
    first_token_at,
    paid,
    recorded_health,
    refilled_buckets,
)

# The type of each of ATTEMPT_COLUMNS, in order.
ATTEMPT_TYPES = (
    "bigint", "text", "text", "text", "bigint", "text", "integer", "integer", "text", "text",
    "bigint", "bigint", "text", "text", "text", "bigint", "text",
)  # fmt: skip


# The type of each of HEALTH_COLUMNS, in order.
HEALTH_TYPES = ("integer", "bigint", "bigint", "bigint")


def _arrays(first: int, types: Sequence[str]) -> str:
    """Array parameters of these types, numbered from `first`."""
    return ", ".join(f"${number}::{type_}[]" for number, type_ in enumerate(types, first))


def _columns(rows: Iterable[Sequence[object]], types: Sequence[str]) -> list[list[object]]:
    """The values of `rows`, of these types, column by column: the arrays for _arrays()."""
    columns: list[list[object]] = [[] for _ in types]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


# How far behind a channel's stored last success time may be (docs/design.md §5.9): a batch of
# successes of a healthy channel whose stored last success is more recent is recorded without
# locking or writing the channel's row, which every claim of the channel locks.
SUCCESS_TIME_RESOLUTION = timedelta(seconds=60)

# The channels of a batch of attempts, locked as claims lock them: results recorded by several
# replicas at once add up, and a claim sees all of a batch or none of it.
LOCK_HEALTH = f"""
SELECT id, {HEALTH_COLUMNS} FROM channels WHERE id = ANY($1::text[])
ORDER BY id
FOR NO KEY UPDATE
"""

# The attempts, the deliveries they settle and their channels' health, in one statement. A
# lease is cleared only if still this store's: another may hold it once this one ran out.
OWNER = len(ATTEMPT_TYPES) + 1
FINISH = f"""
WITH logged AS (
    INSERT INTO attempts ({ATTEMPT_COLUMNS})
    SELECT * FROM unnest({_arrays(1, ATTEMPT_TYPES)})
    RETURNING id
), settled AS (
    UPDATE deliveries d SET attempts = u.attempts, state = u.state, due_at = u.due_at,
        finished_at = u.finished_at,
        claimed_until = CASE WHEN d.claimed_by = ${OWNER} THEN NULL ELSE d.claimed_until END,
        claimed_by = CASE WHEN d.claimed_by = ${OWNER} THEN NULL ELSE d.claimed_by END
    FROM unnest({_arrays(OWNER + 1, ("bigint", "integer", "text", "bigint", "bigint"))})
        AS u(id, attempts, state, due_at, finished_at)
    WHERE d.id = u.id
), counted AS (
    UPDATE channels c SET consecutive_failures = h.failures, failing_since = h.failing_since,
        last_success_time = h.last_success_time, opened_at = h.opened_at
    FROM unnest({_arrays(OWNER + 6, ("text", *HEALTH_TYPES))})
        AS h(id, failures, failing_since, last_success_time, opened_at)
    WHERE c.id = h.id
)
-- The identity is drawn row by row as unnest yields them, in the arrays' order.
SELECT id FROM logged ORDER BY id
"""


def _bucket(row: asyncpg.Record) -> TokenBucket | None:
    """The token bucket its last claim left on a channel row."""
    if row["rate_updated_at"] is None:
        return None
    return TokenBucket(row["rate_tokens"], from_micros(row["rate_updated_at"]))


class DeliveryTables(PostgresConnections):
    async def close(self) -> None:
        # Nothing of this store's is in flight any more: its claims go to the others at once,
        # and wake them.
        try:
            await self._write(
                "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL"
                " WHERE claimed_by = $1",
                self._owner,
                notify=DELIVERIES_DUE,
            )
        finally:
            await super().close()

    async def pending_deliveries(self, channel_ids: Sequence[str]) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT channel_id, COUNT(*) FROM deliveries WHERE state = 'pending'"
            " AND channel_id = ANY($1::text[]) GROUP BY channel_id",
            list(channel_ids),
        )
        return {channel_id: count for channel_id, count in rows}

    async def redeliver(
        self,
        scope: Scope,
        channel_id: str,
        event_id: str | None,
        failed_since: datetime | None,
        now: datetime,
    ) -> int:
        return await self._write(
            "UPDATE deliveries SET state = 'pending', due_at = $2, finished_at = NULL"
            f" WHERE channel_id = $1 AND {redeliver_scope(event_id, '$3', '$1')}"
            f" AND EXISTS (SELECT 1 FROM channels WHERE id = $1 AND {in_scope(4)})",
            channel_id,
            to_micros(now),
            redeliver_target(event_id, failed_since),
            scope.account_id,
            notify=DELIVERIES_DUE,
        )

    async def release_claims(self, delivery_ids: Sequence[int] | None = None) -> None:
        # Released, they are due at once: the other replicas hear of it.
        if delivery_ids is not None:
            await self._write(
                "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL"
                " WHERE id = ANY($1::bigint[]) AND claimed_by = $2",
                list(delivery_ids),
                self._owner,
                notify=DELIVERIES_DUE,
            )
            return
        # Any lease still held is kept only while its owner's lock is. A finished delivery's
        # lease counts for nothing.
        await self._write(
            "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by"
            " IS NOT NULL AND state = 'pending'"
            f" AND (claimed_by = $1 OR claimed_by NOT IN ({LIVE_OWNERS}))",
            self._owner,
            notify=DELIVERIES_DUE,
        )

    async def claim_due(
        self, now: datetime, claim_until: datetime, rules: ClaimRules, limit: int
    ) -> Claimed:
        if not rules.slots or limit <= 0:
            return Claimed([])
        async with self._pools.claims.acquire() as db, db.transaction():
            locked = await db.fetch(LOCK_CHANNELS, list(rules.slots), to_micros(now))
            if not locked:
                return Claimed([])
            health = {row["id"]: health_from_row(row) for row in locked}
            self._stored_health.update(health)
            stored = {row["id"]: _bucket(row) for row in locked}
            buckets = refilled_buckets(rules, stored, stored.get, now)
            allowed = allowances(rules, health, buckets, now)
            rows = await db.fetch(
                CLAIM,
                list(allowed),
                list(allowed.values()),
                [most_leased(rules.limits.get(id_), health[id_]) for id_ in allowed],
                to_micros(now),
                sorted(rules.per_ticket),
                limit,
                self._owner,
                to_micros(claim_until),
            )
            rows.sort(key=lambda row: (row["due_at"], row["id"]))
            claimed = [
                DueDelivery(row[0], row[1], row[2], EventType(row[3]), *row[4:9]) for row in rows
            ]
            buckets = paid(buckets, claimed)
            spent = {delivery.channel_id for delivery in claimed} & buckets.keys()
            if spent:
                await db.execute(
                    SAVE_BUCKETS,
                    list(spent),
                    [buckets[channel_id].tokens for channel_id in spent],
                    [to_micros(buckets[channel_id].updated) for channel_id in spent],
                )
        return Claimed(claimed, health, first_token_at(rules, buckets))

    async def next_due_at(self, channel_ids: Sequence[str], after: datetime) -> datetime | None:
        due = await self._pool.fetchval(NEXT_DUE, list(channel_ids), to_micros(after))
        return from_micros(due) if due is not None else None

    async def finish_attempts(
        self, attempts: Sequence[tuple[Attempt, datetime]], breaker: BreakerPolicy
    ) -> Finished:
        by_channel: defaultdict[str, list[tuple[Attempt, datetime]]] = defaultdict(list)
        for attempt in attempts:
            by_channel[attempt[0].channel_id].append(attempt)
        # The common case, successes of a healthy channel, leaves its row alone: a claim of the
        # channel, which locks it, then waits for no recording.
        unchanged = {
            channel_id: known
            for channel_id, results in by_channel.items()
            if (known := self._stored_health.get(channel_id)) is not None
            and counted_without_change(known, results, SUCCESS_TIME_RESOLUTION)
        }
        counted = sorted(by_channel.keys() - unchanged.keys())
        # Without a row to lock, the one statement is atomic on its own: no transaction
        # around it, two round trips fewer.
        async with (
            self._pools.records.acquire() as db,
            db.transaction() if counted else contextlib.nullcontext(),
        ):
            stored = await db.fetch(LOCK_HEALTH, counted) if counted else []
            locked = {row["id"]: health_from_row(row) for row in stored}
            before = {**unchanged, **locked}
            health = recorded_health(before, attempts, breaker)
            written = {
                channel_id: health[channel_id] for channel_id in locked if channel_id in health
            }
            logged = await db.fetch(
                FINISH,
                *_columns((attempt_values(record) for record, _ in attempts), ATTEMPT_TYPES),
                self._owner,
                [record.delivery_id for record, _ in attempts],
                [record.attempt for record, _ in attempts],
                [DELIVERY_STATES[record.outcome] for record, _ in attempts],
                [optional_micros(record.next_attempt_at) for record, _ in attempts],
                [
                    None
                    if record.outcome is AttemptOutcome.RETRY_SCHEDULED
                    else to_micros(record.attempted_at)
                    for record, _ in attempts
                ],
                list(written),
                *_columns(map(health_values, written.values()), HEALTH_TYPES),
            )
        self._stored_health.update(written)
        return Finished(
            [
                replace(record, id=row["id"])
                for (record, _), row in zip(attempts, logged, strict=True)
            ],
            health,
            circuit_changes(before, health),
        )
