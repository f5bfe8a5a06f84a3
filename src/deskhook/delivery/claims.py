"""The scheduler's claims: what is due and may be sent now, taken from the store within the
in-memory window and each channel's room, and when to look again.

The limits a channel has over every replica are the store's to keep: a claim counts the leases,
tokens and breaker state that replicas sharing it have in common, and tells the stored health,
which the health view adopts."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from deskhook.delivery.health_view import HealthView
from deskhook.delivery.slots import Slots
from deskhook.domain.breaker import BreakerPolicy, CircuitState
from deskhook.domain.channel_spec import Ordering
from deskhook.store.base import ClaimRules, Store
from deskhook.store.directory import ChannelDirectory


@dataclass(frozen=True)
class SchedulerLimits:
    # Attempts in flight at once, over all channels: the in-memory window.
    window: int = 256
    # Attempts in flight to one channel whose max_concurrency is 0.
    channel_concurrency: int = 10
    # A claimed delivery is not claimed again for this long: longer than any attempt.
    claim_lease: timedelta = timedelta(seconds=60)
    # The timer never sleeps longer than this, so retries due later are still noticed.
    max_idle: timedelta = timedelta(seconds=1)


DEFAULT_LIMITS: Final = SchedulerLimits()


class Claims:
    def __init__(
        self,
        store: Store,
        directory: ChannelDirectory,
        health: HealthView,
        slots: Slots,
        *,
        now: Callable[[], datetime],
        limits: SchedulerLimits,
        breaker: BreakerPolicy,
    ) -> None:
        self._store = store
        self._directory = directory
        self._health = health
        self._slots = slots
        self._now = now
        self._limits = limits
        self._breaker = breaker
        # The background loop and drain() both pump: one at a time, so the slots counted for
        # a claim are still free when it lands.
        self._pumping = asyncio.Lock()
        # When the last pump looked, and when a channel its claim's rate limit held back earns
        # a token again.
        self._pumped_at = now()
        self._next_token_at: datetime | None = None

    async def pump(self) -> int:
        """Claim what is due and may be sent now, and start its attempts; how many."""
        async with self._pumping:
            return await self._pump()

    async def idle_seconds(self) -> float:
        """How long the loop sleeps once a pump took nothing: until a delivery falls due, a
        channel its rate limit held back earns a token, or an open circuit's probe is due;
        never longer than `max_idle`. What was due by the last pump and is still unclaimed
        waits for a limit of its channel (its concurrency over every replica, or a ticket's
        earlier delivery): a recorded attempt wakes the loop when one of this scheduler's ends,
        and `max_idle` bounds the wait for another replica's."""
        now = self._now()
        wake_at = now + self._limits.max_idle
        due = await self._store.next_due_at(list(self._rules(now).slots), self._pumped_at)
        for moment in (due, self._next_token_at, *self._health.probes_due()):
            if moment is not None and moment > self._pumped_at:
                wake_at = min(wake_at, moment)
        return max((wake_at - now).total_seconds(), 0.0)

    def _rules(self, now: datetime) -> ClaimRules:
        slots: dict[str, int] = {}
        limits: dict[str, int] = {}
        rates: dict[str, int] = {}
        per_ticket: set[str] = set()
        for channel in self._directory.channels():
            if not channel.spec.enabled or not self._health.may_send(channel.id, now):
                continue
            limit = self._slots.concurrency(channel)
            # A closed circuit claims one round ahead; an open one only its probe.
            open_circuit = self._health(channel.id).state is CircuitState.OPEN
            depth = limit if open_circuit else 2 * limit
            free = depth - self._slots.held(channel.id)
            if free > 0:
                slots[channel.id] = free
                limits[channel.id] = limit
                if rate := channel.spec.rate_limit_per_second:
                    rates[channel.id] = rate
                if channel.spec.ordering is Ordering.PER_TICKET:
                    per_ticket.add(channel.id)
        return ClaimRules(slots, limits, rates, frozenset(per_ticket), self._breaker)

    async def _pump(self) -> int:
        now = self._pumped_at = self._now()
        room = self._limits.window - self._slots.taken()
        if room <= 0:
            return 0
        rules = self._rules(now)
        claim = await self._store.claim_due(now, now + self._limits.claim_lease, rules, room)
        self._health.adopt(claim.health)
        self._next_token_at = claim.next_token_at
        held: list[int] = []
        for delivery in claim.deliveries:
            if self._health(delivery.channel_id).state is CircuitState.OPEN:
                # The circuit may have opened while the claim was on its way, in this
                # scheduler's view ahead of the store's: only a due probe goes out, and the rest
                # wait for its answer.
                if not self._health.may_send(delivery.channel_id, now):
                    held.append(delivery.delivery_id)
                    continue
                self._health.start_probe(delivery.channel_id, now)
            self._slots.queue(delivery)
        if held:
            await self._store.release_claims(held)
        for channel_id in {delivery.channel_id for delivery in claim.deliveries}:
            self._slots.send_ready(channel_id)
        return len(claim.deliveries)
