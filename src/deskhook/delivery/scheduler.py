"""The delivery scheduler: claims due deliveries from the store, sends them, and records each
attempt in the webhook log, within a global window and per-channel limits.

It is woken at once by new commits (no polling delay on the hot path), by a freed slot, by a
recorded attempt, and by its own timer for retries, rate limits and circuit-breaker probes.
Only a bounded window of deliveries is in memory, whatever the backlog. Time and randomness are
injected, so tests drive retries by moving a clock and calling `drain`, never by sleeping.

This class wires its parts: `claims` (what to take from the store, and when to look again),
`demand` (which channels may have something due), `slots` (the attempts in flight and the
deliveries claimed ahead of them), `attempt` (making one attempt and recording it) and
`health_view` (the channels' health as it sees them)."""

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from datetime import datetime

from opentelemetry.trace import Tracer

from deskhook.delivery.attempt import Attempts
from deskhook.delivery.claims import DEFAULT_LIMITS, Claims, SchedulerLimits
from deskhook.delivery.demand import Demand
from deskhook.delivery.health_view import HealthView
from deskhook.delivery.http_client import WebhookClient
from deskhook.delivery.loop_lag import LoopWindow
from deskhook.delivery.operational import OperationalNotices
from deskhook.delivery.slots import Slots
from deskhook.domain.breaker import DEFAULT_POLICY, BreakerPolicy, ChannelHealth
from deskhook.domain.delivery import Attempt
from deskhook.store.base import Store
from deskhook.store.directory import ChannelDirectory

__all__ = ["DeliveryScheduler", "SchedulerLimits", "wait_for_wake"]


async def wait_for_wake(wake: asyncio.Event, seconds: float, *more: asyncio.Event) -> None:
    """Until `wake` (or one of `more`) is set or `seconds` have passed. Not asyncio.wait_for:
    on Python 3.11 it swallows a cancel that lands together with the wake-up, and the loop it
    sleeps in, which stop() cancels and waits for, would go on forever."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            if not more:
                await wake.wait()
                return
            waits = [asyncio.ensure_future(event.wait()) for event in (wake, *more)]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()


class DeliveryScheduler:
    def __init__(
        self,
        store: Store,
        directory: ChannelDirectory,
        client: WebhookClient,
        *,
        now: Callable[[], datetime],
        jitter: Callable[[], float],
        random_bytes: Callable[[int], bytes],
        wake: asyncio.Event,
        on_attempt: Callable[[Attempt], None],
        limits: SchedulerLimits = DEFAULT_LIMITS,
        breaker: BreakerPolicy = DEFAULT_POLICY,
        window: LoopWindow | None = None,
        tracer: Tracer | None = None,
        notices: OperationalNotices | None = None,
    ) -> None:
        self._store = store
        # Set from outside when deliveries may have fallen due on any channel (a redelivery,
        # another replica); `_nudge` by `due_on` and the scheduler's own parts, when a slot
        # frees or attempts are recorded, which tell the channels they concern.
        self._wake = wake
        self._nudge = asyncio.Event()
        self._health = HealthView(breaker)
        self._demand = Demand(limits.max_idle)
        # The window accounts share, following the loop's lag; one handed in (by a test) is read
        # by whoever handed it in.
        self._own_window = window is None
        self._window = window or LoopWindow(limits.window, limits.loop)
        # The slots start attempts, and an attempt frees its slot: each is given the other, the
        # attempts late-bound, as they are built next.
        self._slots = Slots(
            store,
            directory,
            self._health,
            self._demand,
            channel_concurrency=limits.channel_concurrency,
            attempt=lambda delivery: self._attempts.run(delivery),  # noqa: PLW0108
            wake=self._nudge,
        )
        self._attempts = Attempts(
            store,
            directory,
            client,
            self._health,
            self._slots,
            demand=self._demand,
            now=now,
            jitter=jitter,
            random_bytes=random_bytes,
            tracer=tracer,
            notices=notices,
            wake=self._nudge,
            on_attempt=on_attempt,
            breaker=breaker,
            window=limits.window,
        )
        self._claims = Claims(
            store,
            directory,
            self._health,
            self._slots,
            self._demand,
            window=lambda: self._window.current,
            now=now,
            limits=limits,
            breaker=breaker,
        )
        self._task: asyncio.Task[None] | None = None

    def due_on(self, channel_ids: Iterable[str]) -> None:
        """New deliveries of these channels are due: ingest tells which, so a commit makes the
        next claim ask those channels, not every channel the server has."""
        self._demand.stir(channel_ids)
        self._nudge.set()

    def health(self, channel_id: str) -> ChannelHealth:
        return self._health(channel_id)

    async def start(self) -> None:
        # Whatever a crash left claimed, here or by a replica that is gone, is not in flight.
        await self._store.release_claims()
        self._attempts.start()
        if self._own_window:
            self._window.start()
        self._health.load(await self._store.channel_health())
        self._task = asyncio.create_task(self._run(), name="delivery-scheduler")

    async def stop(self, grace: float) -> None:
        """Stop claiming; give attempts in flight `grace` seconds, then cancel them. A
        cancelled attempt stays pending and is sent again after a restart."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._window.stop()
        await self._slots.stop(grace)
        await self._attempts.stop()

    async def drain(self) -> None:
        """Return once nothing is due now and no attempt is in flight."""
        # Whatever was stored before it is asked for, on every channel.
        self._demand.anywhere()
        while True:
            # An attempt that ended while the pump was under way may have freed what its claim
            # found taken (a lease under its channel's limit, a ticket's turn): only a pump
            # that no attempt ended beside and that claimed nothing ends the drain.
            ended = self._slots.ended
            claimed = await self.pump()
            if in_flight := self._slots.in_flight():
                await asyncio.wait(in_flight)
            elif not claimed and ended == self._slots.ended:
                return

    async def pump(self) -> int:
        """Claim what is due and may be sent now, and start its attempts; how many."""
        return await self._claims.pump()

    async def idle_seconds(self) -> float:
        """How long the background loop sleeps once a pump took nothing."""
        return await self._claims.idle_seconds()

    async def _run(self) -> None:
        while True:
            if self._wake.is_set():
                self._demand.anywhere()
            self._wake.clear()
            self._nudge.clear()
            if await self.pump():
                continue
            await wait_for_wake(self._wake, await self.idle_seconds(), self._nudge)
