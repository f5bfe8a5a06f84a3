"""Event ingest: match each event against the channels in memory, and commit events from every
producer in shared batches (group commit), acking only what is durably stored."""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from deskhook.core.directory import ChannelDirectory
from deskhook.domain.events import IngestResult, MatchedEvent, PublishedEvent
from deskhook.store.base import Store

log = structlog.get_logger("deskhook.ingest")

# Events committed in one transaction at most; what arrives meanwhile waits for the next one.
MAX_BATCH_EVENTS = 2000


@dataclass
class _Submission:
    events: Sequence[PublishedEvent]
    done: asyncio.Future[list[IngestResult]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class IngestCommitter:
    """One task commits every submitted event. While a commit runs, new submissions queue up
    and go together into the next transaction, so batches grow with load and each producer
    waits for about one commit."""

    def __init__(
        self,
        store: Store,
        directory: ChannelDirectory,
        *,
        now: Callable[[], datetime],
        on_commit: Callable[[], None],
    ) -> None:
        self._store = store
        self._directory = directory
        self._now = now
        self._on_commit = on_commit
        self._queue: asyncio.Queue[_Submission | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-committer")

    async def stop(self) -> None:
        """Commit everything submitted so far, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    async def submit(self, events: Sequence[PublishedEvent]) -> list[IngestResult]:
        """One result per event, in order, once they are durably committed."""
        if self._task is None:
            raise RuntimeError("the ingest committer is not running")
        submission = _Submission(events)
        self._queue.put_nowait(submission)
        return await submission.done

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            batch, size = [first], len(first.events)
            while size < MAX_BATCH_EVENTS and not self._queue.empty():
                following = self._queue.get_nowait()
                if following is None:
                    stopping = True
                    break
                batch.append(following)
                size += len(following.events)
            await self._commit(batch)

    async def _commit(self, batch: list[_Submission]) -> None:
        matched = [
            MatchedEvent(event, self._directory.match(event))
            for submission in batch
            for event in submission.events
        ]
        try:
            results = await self._store.ingest(matched, self._now())
        except Exception as error:
            log.exception("ingest commit failed", events=len(matched))
            for submission in batch:
                if not submission.done.done():
                    submission.done.set_exception(error)
            return
        start = 0
        for submission in batch:
            end = start + len(submission.events)
            if not submission.done.done():  # its producer may have gone; the events stay
                submission.done.set_result(results[start:end])
            start = end
        if any(result.accepted and result.matched_channels for result in results):
            self._on_commit()
