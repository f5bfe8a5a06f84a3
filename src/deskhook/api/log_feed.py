"""The webhook log followed live: the delivery engine hands each attempt to every watcher, and
a watcher that reads too slowly skips ahead instead of holding memory or slowing delivery. On
shutdown the feed closes, and every watcher ends once it has what was published before."""

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from deskhook.domain.accounts import Scope
from deskhook.domain.delivery import Attempt
from deskhook.domain.errors import Unavailable

# A watcher this far behind loses its oldest entries (and is told how many) rather than
# holding memory or slowing delivery.
WATCHER_BUFFER = 1000


class Watcher:
    def __init__(self, scope: Scope, channel_id: str) -> None:
        self.scope = scope
        self.channel_id = channel_id
        self._entries: deque[Attempt] = deque(maxlen=WATCHER_BUFFER)
        self._skipped = 0
        self._closed = False
        self._ready = asyncio.Event()

    def offer(self, record: Attempt) -> None:
        if len(self._entries) == WATCHER_BUFFER:
            self._skipped += 1
        self._entries.append(record)
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def next(self) -> tuple[Attempt, int]:
        """The next entry, and how many were dropped just before it; Unavailable once the feed
        has closed and nothing is left."""
        while not self._entries:
            if self._closed:
                raise Unavailable("the server is shutting down", reason="SHUTTING_DOWN")
            self._ready.clear()
            await self._ready.wait()
        skipped, self._skipped = self._skipped, 0
        return self._entries.popleft(), skipped


class LogFeed:
    def __init__(self) -> None:
        self._watchers: set[Watcher] = set()
        self._closed = False

    def publish(self, record: Attempt) -> None:
        """Called by the delivery engine after each attempt is stored."""
        for watcher in self._watchers:
            if watcher.scope.reaches(record.account_id) and watcher.channel_id in (
                "",
                record.channel_id,
            ):
                watcher.offer(record)

    def close(self) -> None:
        """Ends every watch: a stream left open would hold shutdown for its whole grace."""
        self._closed = True
        for watcher in self._watchers:
            watcher.close()

    @contextmanager
    def watch(self, scope: Scope, channel_id: str) -> Iterator[Watcher]:
        """A watcher of the scope's attempts to `channel_id` (every channel when empty) from
        now on."""
        watcher = Watcher(scope, channel_id)
        if self._closed:
            watcher.close()
        self._watchers.add(watcher)
        try:
            yield watcher
        finally:
            self._watchers.discard(watcher)
