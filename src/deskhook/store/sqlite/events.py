"""Ingest in SQLite: events and the deliveries they matched, committed together (the
transactional outbox)."""

from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from deskhook.domain.events import IngestResult, MatchedEvent
from deskhook.domain.times import to_micros
from deskhook.store.sqlite.connection import SqliteConnections

# SQLite's limit on bound parameters is far higher; this keeps each IN (...) list modest.
LOOKUP_CHUNK = 500


class EventTables(SqliteConnections):
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
