"""Ingest in PostgreSQL: events and the deliveries they matched, committed together (the
transactional outbox) in one statement per batch, whatever its size."""

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from deskhook.domain.events import IngestResult, MatchedEvent
from deskhook.domain.times import to_micros
from deskhook.store.postgres.connection import PostgresConnections
from deskhook.store.postgres.notify import DELIVERIES_DUE, notify_if_any

# Inserts the new events and their deliveries, wakes the other replicas if there are any
# deliveries, and reads the events stored before: every part of one statement sees the database
# as it was when the statement began.
INGEST = f"""
WITH inserted AS (
    INSERT INTO events (account_id, event_id, event_type, ticket_id, ticket_number,
        occurred_at, received_at, matched_channels, payload)
    SELECT account_id, event_id, event_type, ticket_id, ticket_number, occurred_at, $8,
        matched_channels, payload
    FROM unnest($12::text[], $1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
        $6::integer[], $7::bytea[]) WITH ORDINALITY
        AS e(account_id, event_id, event_type, ticket_id, ticket_number, occurred_at,
            matched_channels, payload, position)
    ORDER BY position
    ON CONFLICT (account_id, event_id) DO NOTHING
    RETURNING seq, account_id, event_id, ticket_id, matched_channels
), delivered AS (
    -- Ordered so that delivery ids follow the events (PER_TICKET goes by id). A channel
    -- deleted since the matching index was read gets no delivery: the key-share lock waits
    -- for a delete in progress, which then leaves no row to join.
    INSERT INTO deliveries (event_seq, channel_id, ticket_id, due_at, create_time)
    SELECT i.seq, c.id, i.ticket_id, $8, $8
    FROM unnest($13::text[], $9::text[], $10::text[]) WITH ORDINALITY
        AS m(account_id, event_id, channel_id, position)
    JOIN inserted i ON i.account_id = m.account_id AND i.event_id = m.event_id
    JOIN channels c ON c.id = m.channel_id
    ORDER BY m.position
    FOR KEY SHARE OF c
    RETURNING 1
), {notify_if_any(DELIVERIES_DUE, "delivered", 11)}
SELECT account_id, event_id, matched_channels, true AS accepted
FROM inserted LEFT JOIN woken ON true
UNION ALL
SELECT s.account_id, s.event_id, s.matched_channels, false
FROM events s JOIN unnest($12::text[], $1::text[]) AS k(account_id, event_id)
    ON s.account_id = k.account_id AND s.event_id = k.event_id
"""
STORED = """
SELECT s.account_id, s.event_id, s.matched_channels
FROM events s JOIN unnest($1::text[], $2::text[]) AS k(account_id, event_id)
    ON s.account_id = k.account_id AND s.event_id = k.event_id
"""


class EventTables(PostgresConnections):
    async def ingest(self, events: Sequence[MatchedEvent], now: datetime) -> list[IngestResult]:
        # Of several copies of one event in the batch, only the first is offered.
        first: dict[tuple[str, str], MatchedEvent] = {}
        for matched in events:
            first.setdefault(matched.event.key, matched)
        offered = list(first.values())
        rows = await self._pool.fetch(
            INGEST,
            [event_id for _, event_id in first],
            [matched.event.event_type.value for matched in offered],
            [matched.event.ticket_id for matched in offered],
            [matched.event.ticket_number for matched in offered],
            [matched.event.occurred_at_micros for matched in offered],
            [len(matched.channel_ids) for matched in offered],
            [matched.event.payload for matched in offered],
            to_micros(now),
            [matched.event.event_id for matched in offered for _ in matched.channel_ids],
            [channel_id for matched in offered for channel_id in matched.channel_ids],
            self._sender,
            [account_id for account_id, _ in first],
            [matched.event.account_id for matched in offered for _ in matched.channel_ids],
        )
        accepted = {_row_key(row) for row in rows if row["accepted"]}
        matched_channels = {_row_key(row): row["matched_channels"] for row in rows}
        # Neither inserted nor there before: another replica stored it while this statement
        # ran, and the insert waited for that commit and skipped the row. Only a new
        # statement sees it.
        if raced := [key for key in first if key not in matched_channels]:
            found = await self._pool.fetch(
                STORED, [account for account, _ in raced], [event for _, event in raced]
            )
            matched_channels.update((_row_key(row), row["matched_channels"]) for row in found)
        results: list[IngestResult] = []
        for matched in events:
            key = matched.event.key
            results.append(IngestResult(key in accepted, matched_channels[key]))
            accepted.discard(key)
        return results


def _row_key(row: asyncpg.Record) -> tuple[str, str]:
    return row["account_id"], row["event_id"]
