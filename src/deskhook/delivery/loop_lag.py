"""The event loop's lag, read by a task that asks to wake every `interval` and notes how late it
does (the time the loop's queue of ready work took) and how much of that time the loop's thread
was busy. It sets the window accounts share (`deskhook.domain.shares.next_window`), so that
deliveries in flight never queue for the loop more than they need to keep it busy
(docs/design.md §5.4)."""

import asyncio
import time
from collections import deque

from deskhook.domain.shares import LoopPolicy, next_window
from deskhook.tasks import stop_task

# Seconds between readings, and how many readings a decision averages: the loop's lag comes in
# bursts (a claim starting many attempts at once, a batch of them recorded), which a single
# reading catches or misses by chance.
INTERVAL = 0.02
READINGS = 3


class LoopWindow:
    """The window now: `ceiling` while the loop keeps up, smaller while it lags. It reads the
    loop once started; `read` gives it a reading."""

    def __init__(self, ceiling: int, policy: LoopPolicy | None) -> None:
        self._ceiling = ceiling
        self._policy = policy
        self.current = ceiling
        self._readings: deque[tuple[float, float]] = deque(maxlen=READINGS)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._policy is not None:
            self._task = asyncio.create_task(self._follow(), name="loop-lag")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    def read(self, lag: float, busy: float) -> None:
        """The loop woke a task `lag` seconds late, its thread busy for `busy` of the time:
        once there are enough readings, their means move the window."""
        self._readings.append((lag, busy))
        if self._policy is not None and len(self._readings) == READINGS:
            lag = sum(lag for lag, _ in self._readings) / READINGS
            busy = sum(busy for _, busy in self._readings) / READINGS
            self.current = next_window(self.current, lag, busy, self._ceiling, self._policy)

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started, cpu = loop.time(), time.thread_time()
            await asyncio.sleep(INTERVAL)
            elapsed = loop.time() - started
            self.read(elapsed - INTERVAL, (time.thread_time() - cpu) / elapsed)
