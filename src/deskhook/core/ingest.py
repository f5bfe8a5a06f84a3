"""Event ingest: match each event against the channels in memory, and commit events from every
producer in shared batches (group commit), acking only what is durably stored."""

from collections.abc import Callable, Sequence
from datetime import datetime

from opentelemetry.trace import SpanKind, Tracer

from deskhook.domain.events import IngestResult, MatchedEvent, PublishedEvent
from deskhook.store.base import Store
from deskhook.store.directory import ChannelDirectory
from deskhook.store.group_commit import GroupCommitter
from deskhook.tracing import span

# Events committed in one transaction at most; what arrives meanwhile waits for the next one.
MAX_BATCH_EVENTS = 2000
COMMIT_SPAN = "deskhook ingest commit"


class IngestCommitter:
    """Matches each event against the channels in memory and commits events from every
    producer in shared transactions; `submit` returns once they are durably stored."""

    def __init__(
        self,
        store: Store,
        directory: ChannelDirectory,
        *,
        now: Callable[[], datetime],
        on_commit: Callable[[set[str]], None],
        on_acked: Callable[[Sequence[IngestResult]], None],
        tracer: Tracer | None = None,
    ) -> None:
        self._store = store
        self._directory = directory
        self._now = now
        # Called after a commit that made deliveries due, with their channels: wakes the
        # scheduler for those channels alone.
        self._on_commit = on_commit
        # Called with the results of each `submit` as they go back to its caller: what the
        # metrics count as answered.
        self._on_acked = on_acked
        self._tracer = tracer
        self._batches = GroupCommitter(
            self._match_and_store, name="ingest-committer", max_batch=MAX_BATCH_EVENTS
        )

    def start(self) -> None:
        self._batches.start()

    async def stop(self) -> None:
        """Commit everything submitted so far, then stop."""
        await self._batches.stop()

    async def submit(self, events: Sequence[PublishedEvent]) -> list[IngestResult]:
        """One result per event, in order, once they are durably committed."""
        results = await self._batches.submit(events)
        self._on_acked(results)
        return results

    async def _match_and_store(self, events: list[PublishedEvent]) -> list[IngestResult]:
        # A batch holds events of many traces: its span links to them rather than join one.
        with span(
            self._tracer,
            COMMIT_SPAN,
            SpanKind.INTERNAL,
            attributes=lambda: {"deskhook.events": len(events)},
            linked=lambda: ((event.traceparent, event.tracestate) for event in events),
        ):
            return await self._commit(events)

    async def _commit(self, events: list[PublishedEvent]) -> list[IngestResult]:
        # Matched at commit time: the freshest view of the channels.
        matched = [MatchedEvent(event, self._directory.match(event)) for event in events]
        results = await self._store.ingest(matched, self._now())
        due = {
            channel_id
            for event, result in zip(matched, results, strict=True)
            if result.accepted
            for channel_id in event.channel_ids
        }
        if due:
            self._on_commit(due)
        return results
