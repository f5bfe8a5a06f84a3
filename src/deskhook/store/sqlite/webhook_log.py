"""The webhook log in SQLite: one row per attempt, read by filters and pruned by age."""

from datetime import datetime

from deskhook.domain.accounts import Scope
from deskhook.domain.delivery import Attempt
from deskhook.domain.times import to_micros
from deskhook.store.base import LogFilter
from deskhook.store.log_filter import log_comparisons
from deskhook.store.rows import ATTEMPT_COLUMNS, attempt_from_row
from deskhook.store.sqlite.connection import SqliteConnections


class WebhookLogTables(SqliteConnections):
    async def list_attempts(
        self, scope: Scope, log_filter: LogFilter, before: tuple[int, int] | None, limit: int
    ) -> list[Attempt]:
        comparisons = log_comparisons(scope, log_filter)
        conditions = [f"{comparison} ?" for comparison, _ in comparisons]
        values = [value for _, value in comparisons]
        if before is not None:
            conditions.append("(attempted_at, id) < (?, ?)")
            values.extend(before)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._read(
            f"SELECT id, {ATTEMPT_COLUMNS} FROM attempts{where}"
            " ORDER BY attempted_at DESC, id DESC LIMIT ?",
            (*values, limit),
        )
        return [attempt_from_row(row) for row in rows]

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
