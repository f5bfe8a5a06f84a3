"""The webhook log: listed from the store with filters and pages, and followed live from the
delivery engine (not by polling the database)."""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from deskhook.domain.delivery import AttemptRecord
from deskhook.domain.errors import InvalidArgument
from deskhook.domain.paging import decode_page_token, encode_page_token, page_size
from deskhook.domain.times import to_micros
from deskhook.store.base import LogFilter, Store

# A watcher this far behind loses its oldest entries (and is told how many) rather than
# holding memory or slowing delivery.
WATCHER_BUFFER = 1000


@dataclass(frozen=True)
class LogPage:
    entries: list[AttemptRecord]
    next_page_token: str


class _Watcher:
    def __init__(self, channel_id: str) -> None:
        self.channel_id = channel_id
        self._entries: deque[AttemptRecord] = deque(maxlen=WATCHER_BUFFER)
        self._skipped = 0
        self._ready = asyncio.Event()

    def offer(self, record: AttemptRecord) -> None:
        if len(self._entries) == WATCHER_BUFFER:
            self._skipped += 1
        self._entries.append(record)
        self._ready.set()

    async def next(self) -> tuple[AttemptRecord, int]:
        """The next entry, and how many were dropped just before it."""
        while not self._entries:
            self._ready.clear()
            await self._ready.wait()
        skipped, self._skipped = self._skipped, 0
        return self._entries.popleft(), skipped


class DeliveryLog:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._watchers: set[_Watcher] = set()

    async def list_entries(
        self, log_filter: LogFilter, requested_size: int, page_token: str
    ) -> LogPage:
        size = page_size(requested_size)
        query = {key: str(value) for key, value in asdict(log_filter).items()}
        position = decode_page_token(page_token, query)
        before: tuple[int, int] | None = None
        if position is not None:
            if len(position) != 2 or not all(isinstance(part, int) for part in position):
                raise InvalidArgument.field(
                    "page_token", "is not a token from a previous page", reason="INVALID_PAGE_TOKEN"
                )
            before = (int(position[0] or 0), int(position[1] or 0))
        rows = await self._store.list_attempts(log_filter, before, size + 1)
        page = rows[:size]
        next_token = (
            encode_page_token([to_micros(page[-1].attempted_at), page[-1].id], query)
            if len(rows) > size
            else ""
        )
        return LogPage(page, next_token)

    def publish(self, record: AttemptRecord) -> None:
        """Called by the delivery engine after each attempt is stored."""
        for watcher in self._watchers:
            if not watcher.channel_id or watcher.channel_id == record.channel_id:
                watcher.offer(record)

    @contextmanager
    def _watching(self, channel_id: str) -> Iterator[_Watcher]:
        watcher = _Watcher(channel_id)
        self._watchers.add(watcher)
        try:
            yield watcher
        finally:
            self._watchers.discard(watcher)

    async def follow(self, channel_id: str) -> AsyncIterator[tuple[AttemptRecord, int]]:
        """Entries as attempts happen, each with the count skipped just before it."""
        with self._watching(channel_id) as watcher:
            while True:
                yield await watcher.next()
