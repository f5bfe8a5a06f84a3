"""Retention: the webhook log, finished deliveries and their events are deleted once older
than the retention period (30 days by default)."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from deskhook.store.base import Store
from deskhook.tasks import stop_task

log = structlog.get_logger("deskhook.retention")

PRUNE_BATCH = 5000


class Pruner:
    """Prunes every `interval`; `prune_once` runs one full pass (tests call it directly)."""

    def __init__(
        self,
        store: Store,
        retention: timedelta,
        *,
        now: Callable[[], datetime],
        interval: timedelta = timedelta(hours=1),
    ) -> None:
        self._store = store
        self._retention = retention
        self._now = now
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def prune_once(self) -> int:
        """Delete everything older than the retention period; how many rows went."""
        before = self._now() - self._retention
        total = 0
        while removed := await self._store.prune(before, PRUNE_BATCH):
            total += removed
        if total:
            log.info("pruned", rows=total, before=before.isoformat())
        return total

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention-pruner")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.prune_once()
            except Exception:
                log.exception("pruning failed; trying again next interval")
            await asyncio.sleep(self._interval.total_seconds())
