"""Ingest in SQLite: events and the deliveries they matched, committed together (the
transactional outbox)."""

from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from deskhook.domain.events import IngestResult, MatchedEvent
from deskhook.domain.times import to_micros
from deskhook.store.sqlite.bulk import execute_rows
from deskhook.store.sqlite.connection import SqliteConnections

# SQLite's limit on bound parameters is far higher; this keeps each IN (...) list modest.
LOOKUP_CHUNK = 500


class EventTables(SqliteConnections):
    async def ingest(self, events: Sequence[MatchedEvent], now: datetime) -> list[IngestResult]:
        # A few statements per batch, however large (`bulk`), each one trip to the writer's
        # thread: a trip per row, or per few rows as a cursor's iteration makes them, would cost
        # more than the writes themselves, and each trip hands the GIL back and forth with the
        # event loop.
        received_at = to_micros(now)
        async with self._transaction() as db:
            ((newest_before,),) = await db.execute_fetchall(
                "SELECT COALESCE(MAX(seq), 0) FROM events"
            )
            await execute_rows(
                db,
                "INSERT OR IGNORE INTO events (account_id, event_id, event_type, ticket_id,"
                " ticket_number, occurred_at, received_at, matched_channels, payload)"
                " VALUES {values}",
                [
                    (
                        matched.event.account_id,
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
            stored = await self._stored_events(db, [m.event.key for m in events])
            results: list[IngestResult] = []
            deliveries: list[tuple[int, str, int, int, int]] = []
            accepted_keys: set[tuple[str, str]] = set()
            for matched in events:
                key = matched.event.key
                seq, matched_channels = stored[key]
                # New rows have a seq above the batch's start; of several copies of one event in
                # the batch, only the first inserted the row.
                accepted = seq > newest_before and key not in accepted_keys
                if accepted:
                    accepted_keys.add(key)
                    deliveries.extend(
                        (seq, channel_id, matched.event.ticket_id, received_at, received_at)
                        for channel_id in matched.channel_ids
                    )
                results.append(IngestResult(accepted, matched_channels))
            # A channel deleted since the matching index was read gets no delivery.
            if deliveries:
                await execute_rows(
                    db,
                    "INSERT INTO deliveries (event_seq, channel_id, ticket_id, due_at,"
                    " create_time) SELECT * FROM (VALUES {values})"
                    " WHERE column2 IN (SELECT id FROM channels)",
                    deliveries,
                )
        return results

    @staticmethod
    async def _stored_events(
        db: aiosqlite.Connection, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """seq and matched_channels of each stored event among `keys` (account, event id)."""
        by_account: dict[str, list[str]] = {}
        for account_id, event_id in dict.fromkeys(keys):
            by_account.setdefault(account_id, []).append(event_id)
        found: dict[tuple[str, str], tuple[int, int]] = {}
        for account_id, event_ids in by_account.items():
            for start in range(0, len(event_ids), LOOKUP_CHUNK):
                chunk = event_ids[start : start + LOOKUP_CHUNK]
                rows = await db.execute_fetchall(
                    "SELECT event_id, seq, matched_channels FROM events WHERE account_id = ?"
                    f" AND event_id IN ({', '.join('?' * len(chunk))})",
                    (account_id, *chunk),
                )
                for event_id, seq, matched_channels in rows:
                    found[(account_id, event_id)] = (seq, matched_channels)
        return found
