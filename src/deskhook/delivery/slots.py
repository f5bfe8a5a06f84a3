"""The scheduler's slots: the attempts in flight, by channel, each holding one of its channel's
slots while its request is on the wire, and the deliveries claimed ahead of them, started as
slots free."""

import asyncio
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable

from deskhook.delivery.demand import Demand
from deskhook.delivery.health_view import HealthView
from deskhook.domain.channel_spec import Channel
from deskhook.domain.delivery import DueDelivery
from deskhook.store.base import Store
from deskhook.store.directory import ChannelDirectory


class Slots:
    def __init__(
        self,
        store: Store,
        directory: ChannelDirectory,
        health: HealthView,
        demand: Demand,
        *,
        channel_concurrency: int,
        attempt: Callable[[DueDelivery], Awaitable[None]],
        wake: asyncio.Event,
    ) -> None:
        self._store = store
        self._directory = directory
        self._health = health
        self._demand = demand
        self._channel_concurrency = channel_concurrency
        self._attempt = attempt
        self._wake = wake
        self._in_flight: set[asyncio.Task[None]] = set()
        # How many attempts have ended: drain() tells by it whether one ended beside a pump.
        self.ended = 0
        self._per_channel: Counter[str] = Counter()
        # Deliveries whose request is still on the wire: each holds one of its channel's slots.
        self._sending: set[int] = set()
        # Claimed ahead, up to a channel's concurrency, so a freed slot is refilled at once
        # instead of waiting for the next claim's round trip to the database.
        self._ready: defaultdict[str, deque[DueDelivery]] = defaultdict(deque)

    def in_flight(self) -> set[asyncio.Task[None]]:
        return set(self._in_flight)

    def taken(self) -> int:
        """The deliveries held in memory: in flight or claimed ahead."""
        return len(self._in_flight) + sum(len(ready) for ready in self._ready.values())

    def held(self, channel_id: str) -> int:
        """The channel's deliveries in flight or claimed ahead."""
        return self._per_channel[channel_id] + len(self._ready[channel_id])

    def holding(self) -> set[str]:
        """The channels with deliveries in flight or claimed ahead."""
        return {channel_id for channel_id, count in self._per_channel.items() if count} | {
            channel_id for channel_id, ready in self._ready.items() if ready
        }

    def concurrency(self, channel: Channel) -> int:
        # A failing channel gets one request at a time until one succeeds, and an open circuit
        # one probe: a receiver that is down or hanging is not sent a fresh round of requests
        # (each a new connection and TLS handshake) every time the last round fails.
        if self._health(channel.id).consecutive_failures:
            return 1
        return channel.spec.max_concurrency or self._channel_concurrency

    def queue(self, delivery: DueDelivery) -> None:
        self._ready[delivery.channel_id].append(delivery)

    def send_ready(self, channel_id: str) -> None:
        """Start the channel's claimed deliveries while it has free slots."""
        ready = self._ready[channel_id]
        channel = self._directory.channel(channel_id)
        limit = self.concurrency(channel) if channel is not None else len(ready)
        while ready and self._per_channel[channel_id] < limit:
            delivery = ready.popleft()
            self._per_channel[channel_id] += 1
            self._sending.add(delivery.delivery_id)
            task = asyncio.create_task(self._run(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    def take_ready(self, channel_id: str) -> list[int]:
        """Take back the claims of a channel that may not send them now (it is failing, or was
        disabled); released, they are due again at once when it may."""
        return [delivery.delivery_id for delivery in self._ready.pop(channel_id, ())]

    async def drop_ready(self, channel_id: str) -> None:
        if dropped := self.take_ready(channel_id):
            await self._store.release_claims(dropped)
            self._demand.stir([channel_id])

    def free(self, delivery: DueDelivery) -> None:
        """The channel may take its next request: called once the response is in, before the
        attempt is recorded, so that a channel's concurrency is spent on the wire only."""
        if delivery.delivery_id in self._sending:
            self._sending.discard(delivery.delivery_id)
            self._per_channel[delivery.channel_id] -= 1
            self.send_ready(delivery.channel_id)
            self._wake.set()

    async def stop(self, grace: float) -> None:
        """Release what was claimed ahead; give attempts in flight `grace` seconds, then cancel
        them."""
        # Nothing new starts: an attempt freeing its slot must not send the next one.
        for channel_id in list(self._ready):
            await self.drop_ready(channel_id)
        if self._in_flight:
            _, unfinished = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)

    async def _run(self, delivery: DueDelivery) -> None:
        try:
            await self._attempt(delivery)
        finally:
            self.free(delivery)
            self.ended += 1
