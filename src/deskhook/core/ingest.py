"""Event ingest: match each event against the channels in memory, and commit events from every
producer in shared batches (group commit), acking only what is durably stored."""

from collections.abc import Callable
from datetime import datetime

from deskhook.core.directory import ChannelDirectory
from deskhook.core.group_commit import GroupCommitter
from deskhook.domain.events import IngestResult, MatchedEvent, PublishedEvent
from deskhook.store.base import Store

# Events committed in one transaction at most; what arrives meanwhile waits for the next one.
MAX_BATCH_EVENTS = 2000


class IngestCommitter(GroupCommitter[PublishedEvent, IngestResult]):
    """Matches each event against the channels in memory and commits events from every
    producer in shared transactions; `submit` returns once they are durably stored."""

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
        super().__init__(self._match_and_store, name="ingest-committer", max_batch=MAX_BATCH_EVENTS)

    async def _match_and_store(self, events: list[PublishedEvent]) -> list[IngestResult]:
        # Matched at commit time: the freshest view of the channels.
        matched = [MatchedEvent(event, self._directory.match(event)) for event in events]
        results = await self._store.ingest(matched, self._now())
        if any(result.accepted and result.matched_channels for result in results):
            self._on_commit()
        return results
