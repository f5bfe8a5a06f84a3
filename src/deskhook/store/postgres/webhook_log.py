"""The webhook log in PostgreSQL: one row per attempt, read by filters and pruned by age."""

from datetime import datetime

from deskhook.domain.accounts import Scope
from deskhook.domain.delivery import Attempt
from deskhook.domain.times import to_micros
from deskhook.store.base import LogFilter
from deskhook.store.log_filter import log_comparisons
from deskhook.store.postgres.connection import PostgresConnections
from deskhook.store.rows import ATTEMPT_COLUMNS, attempt_from_row

# Small batches, each its own statement, so no lock is held long.
PRUNE = (
    "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts WHERE attempted_at < $1 LIMIT $2)",
    "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries"
    " WHERE state <> 'pending' AND finished_at < $1 LIMIT $2)",
    "DELETE FROM events WHERE seq IN (SELECT seq FROM events e WHERE received_at < $1"
    " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq) LIMIT $2)",
)


class WebhookLogTables(PostgresConnections):
    async def list_attempts(
        self, scope: Scope, log_filter: LogFilter, before: tuple[int, int] | None, limit: int
    ) -> list[Attempt]:
        comparisons = log_comparisons(scope, log_filter)
        values = [value for _, value in comparisons]
        conditions = [
            f"{comparison} ${number}" for number, (comparison, _) in enumerate(comparisons, 1)
        ]
        if before is not None:
            values.extend(before)
            conditions.append(f"(attempted_at, id) < (${len(values) - 1}, ${len(values)})")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._pool.fetch(
            f"SELECT id, {ATTEMPT_COLUMNS} FROM attempts{where}"
            f" ORDER BY attempted_at DESC, id DESC LIMIT ${len(values) + 1}",
            *values,
            limit,
        )
        return [attempt_from_row(row) for row in rows]

    async def prune(self, before: datetime, batch: int) -> int:
        removed = 0
        for statement in PRUNE:
            removed += await self._write(statement, to_micros(before), batch)
        return removed
