"""The scheduler's claims: what is due and may be sent now, taken from the store within each
account's fair share of the in-memory window and each channel's room, and when to look again.

The limits a channel has over every replica are the store's to keep: a claim counts the leases,
tokens and breaker state that replicas sharing it have in common, and tells the stored health,
which the health view adopts."""

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from deskhook.delivery.demand import Demand
from deskhook.delivery.health_view import HealthView
from deskhook.delivery.slots import Slots
from deskhook.domain.breaker import BreakerPolicy, CircuitState
from deskhook.domain.channel_spec import Channel, Ordering
from deskhook.domain.shares import LoopPolicy, Want, active, fair_shares
from deskhook.store.base import ClaimRules, Store
from deskhook.store.directory import ChannelDirectory

DEFAULT_LOOP_POLICY: Final = LoopPolicy()


@dataclass(frozen=True)
class SchedulerLimits:
    # Attempts in flight or claimed ahead at once, over all channels: the in-memory window,
    # shared fairly between accounts (an account below its share may claim up to it even when
    # the others fill the window: at most twice the window, for as long as they take to
    # finish what they hold beyond theirs).
    window: int = 256
    # How the window shrinks while the event loop lags and accounts share it (None: never).
    loop: LoopPolicy | None = DEFAULT_LOOP_POLICY
    # Attempts in flight to one channel whose max_concurrency is 0.
    channel_concurrency: int = 10
    # A claimed delivery is not claimed again for this long: longer than any attempt.
    claim_lease: timedelta = timedelta(seconds=60)
    # The timer never sleeps longer than this, so retries due later are still noticed.
    max_idle: timedelta = timedelta(seconds=1)


DEFAULT_LIMITS: Final = SchedulerLimits()
# Claims one pump makes at most: the first asks every channel that may have something due for
# its share; each next one shares what came back unused among those that may still have more.
MAX_PASSES = 3


class Claims:
    def __init__(
        self,
        store: Store,
        directory: ChannelDirectory,
        health: HealthView,
        slots: Slots,
        demand: Demand,
        *,
        window: Callable[[], int],
        now: Callable[[], datetime],
        limits: SchedulerLimits,
        breaker: BreakerPolicy,
    ) -> None:
        self._store = store
        self._directory = directory
        self._health = health
        self._slots = slots
        self._demand = demand
        self._window = window
        # When each account last held part of the window or could take some.
        self._active_at: dict[str, datetime] = {}
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
        # Whether the last pump left due deliveries unclaimed for want of room in the window.
        self._waiting_for_room = False

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
        if self._waiting_for_room:
            # Nothing can be claimed before an attempt ends, and one ending wakes the loop: there
            # is nothing to look up (a delivery falling due meanwhile waits for the room too).
            return self._limits.max_idle.total_seconds()
        now = self._now()
        wake_at = now + self._limits.max_idle
        eligible = [channel.id for channel, _ in self._eligible(now)]
        due = await self._store.next_due_at(eligible, self._pumped_at)
        moments = [
            moment
            for moment in (due, self._next_token_at, *self._health.probes_due())
            if moment is not None and moment > self._pumped_at
        ]
        # Whichever comes first may give a channel that came back short something due again.
        self._demand.recheck_at(min(moments, default=None))
        return max((min([wake_at, *moments]) - now).total_seconds(), 0.0)

    def _eligible(self, now: datetime) -> list[tuple[Channel, int]]:
        """The channels that may send now, each with how many more it may hold: a closed
        circuit claims one round ahead; an open one only its probe."""
        eligible: list[tuple[Channel, int]] = []
        for channel in self._directory.channels():
            if not channel.spec.enabled or not self._health.may_send(channel.id, now):
                continue
            limit = self._slots.concurrency(channel)
            open_circuit = self._health(channel.id).state is CircuitState.OPEN
            depth = limit if open_circuit else 2 * limit
            eligible.append((channel, depth - self._slots.held(channel.id)))
        return eligible

    def _shares(self, now: datetime) -> tuple[dict[str, int], dict[str, Channel], bool]:
        """What each channel may claim now: its share of the window (`deskhook.domain.shares`)
        by what it holds and, if it may have something due, could take; with the channels
        looked at, and whether any of them could take more than the window has room for."""
        accounts: dict[str, dict[str, Want]] = defaultdict(dict)
        channels: dict[str, Channel] = {}
        for channel, free in self._eligible(now):
            channels[channel.id] = channel
            wanted = free if self._demand.may_have_due(channel.id, now) else 0
            accounts[channel.account_id][channel.id] = Want(self._slots.held(channel.id), wanted)
        # Channels that may not claim now still hold their part of the window.
        for channel_id in self._slots.holding() - channels.keys():
            if (holder := self._directory.channel(channel_id)) is not None:
                accounts[holder.account_id][channel_id] = Want(self._slots.held(channel_id), 0)
        # Accounts sharing the window get what the loop keeps up with; one alone, all of it.
        full = self._window() if self._shared(active(accounts), now) else self._limits.window
        # What the counted channels do not hold (attempts being recorded, deleted channels'
        # attempts) is not theirs to share.
        counted = sum(want.held for wants in accounts.values() for want in wants.values())
        window = full - (self._slots.taken() - counted)
        caps = fair_shares(window, accounts)
        slots = {id_: cap for id_, cap in caps.items() if cap > 0 and id_ in channels}
        wanting = any(want.free for wants in accounts.values() for want in wants.values())
        return slots, channels, wanting and not slots

    def _shared(self, accounts: list[str], now: datetime) -> bool:
        """Whether another account than one active now was active within `max_idle`: one that
        publishes now and then shares the window between its events too."""
        for account in accounts:
            self._active_at[account] = now
        since = now - self._limits.max_idle
        self._active_at = {a: at for a, at in self._active_at.items() if at >= since}
        return len(self._active_at) > 1

    def _rules(self, slots: dict[str, int], channels: dict[str, Channel]) -> ClaimRules:
        limits: dict[str, int] = {}
        rates: dict[str, int] = {}
        per_ticket: set[str] = set()
        for channel_id in slots:
            channel = channels[channel_id]
            limits[channel_id] = self._slots.concurrency(channel)
            if rate := channel.spec.rate_limit_per_second:
                rates[channel_id] = rate
            if channel.spec.ordering is Ordering.PER_TICKET:
                per_ticket.add(channel_id)
        return ClaimRules(slots, limits, rates, frozenset(per_ticket), self._breaker)

    async def _pump(self) -> int:
        now = self._pumped_at = self._now()
        self._demand.reached(now)
        claimed = 0
        # A channel that came back short leaves its share unused: the others share it in a
        # next pass, which asks only the channels that may still have something due.
        self._waiting_for_room = False
        for _ in range(MAX_PASSES):
            slots, channels, self._waiting_for_room = self._shares(now)
            if not slots:
                break
            asked_at = self._demand.step()
            taken = await self._claim(now, self._rules(slots, channels))
            claimed += sum(taken.values())
            if not self._demand.claimed(slots, taken, now, asked_at):
                break
        return claimed

    async def _claim(self, now: datetime, rules: ClaimRules) -> Counter[str]:
        """Claim within `rules` and queue what came; how many of each channel."""
        limit = sum(rules.slots.values())
        claim = await self._store.claim_due(now, now + self._limits.claim_lease, rules, limit)
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
        taken = Counter(delivery.channel_id for delivery in claim.deliveries)
        for channel_id in taken:
            self._slots.send_ready(channel_id)
        return taken
