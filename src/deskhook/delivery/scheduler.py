"""The delivery scheduler: claims due deliveries from the store, sends them, and records each
attempt in the webhook log, within a global window and per-channel limits.

It is woken at once by new commits (no polling delay on the hot path), by a freed slot, by a
recorded attempt, and by its own timer for retries, rate limits and circuit-breaker probes.
The limits a channel has over every replica are the store's to keep: its claims count the
leases, tokens and breaker state that replicas sharing it have in common, and each claim and
each recorded batch tells the scheduler the stored health, which it adopts. Its own view of a
channel's health runs ahead only while its own results are on their way to the store, so that
it stops sending to a channel whose circuit it just saw open. Only a bounded window
of deliveries is in memory, whatever the backlog. Time and randomness are injected, so tests
drive retries by moving a clock and calling `drain`, never by sleeping."""

import asyncio
import contextlib
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from deskhook.delivery.http_client import WebhookClient
from deskhook.delivery.payload import event_body
from deskhook.domain.breaker import (
    DEFAULT_POLICY,
    BreakerPolicy,
    ChannelHealth,
    CircuitState,
    may_send,
    next_probe_at,
    record_result,
    should_disable,
    start_probe,
)
from deskhook.domain.channels import Channel, Ordering
from deskhook.domain.delivery import AttemptOutcome, AttemptRecord, DueDelivery, webhook_id
from deskhook.domain.outcomes import HttpOutcome, concerns_receiver
from deskhook.domain.retry import Decision, Verdict, decide
from deskhook.domain.signing import webhook_headers
from deskhook.store.base import ClaimRules, Store
from deskhook.store.directory import ChannelDirectory
from deskhook.store.group_commit import GroupCommitter

log = structlog.get_logger("deskhook.delivery")

_OUTCOMES = {
    Verdict.DELIVERED: AttemptOutcome.DELIVERED,
    Verdict.RETRY: AttemptOutcome.RETRY_SCHEDULED,
    Verdict.GIVE_UP: AttemptOutcome.GIVEN_UP,
    Verdict.DISABLE_CHANNEL: AttemptOutcome.GIVEN_UP,
}


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


async def wait_for_wake(wake: asyncio.Event, seconds: float) -> None:
    """Until `wake` is set or `seconds` have passed. Not asyncio.wait_for: on Python 3.11 it
    swallows a cancel that lands together with the wake-up, and the loop it sleeps in, which
    stop() cancels and waits for, would go on forever."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()


class DeliveryScheduler:
    def __init__(
        self,
        store: Store,
        directory: ChannelDirectory,
        client: WebhookClient,
        *,
        now: Callable[[], datetime],
        jitter: Callable[[], float],
        wake: asyncio.Event,
        on_attempt: Callable[[AttemptRecord], None],
        limits: SchedulerLimits = SchedulerLimits(),
        breaker: BreakerPolicy = DEFAULT_POLICY,
    ) -> None:
        self._store = store
        self._directory = directory
        self._client = client
        self._now = now
        self._jitter = jitter
        self._wake = wake
        self._on_attempt = on_attempt
        self._limits = limits
        self._breaker = breaker
        self._health: dict[str, ChannelHealth] = {}
        # Results counted into `_health` and not yet into the stored health, by channel.
        self._unsettled: Counter[str] = Counter()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._attempts_ended = 0
        self._per_channel: Counter[str] = Counter()
        # Deliveries whose request is still on the wire: each holds one of its channel's slots.
        self._sending: set[int] = set()
        # Claimed ahead, up to a channel's concurrency, so a freed slot is refilled at once
        # instead of waiting for the next claim's round trip to the database.
        self._ready: defaultdict[str, deque[DueDelivery]] = defaultdict(deque)
        self._task: asyncio.Task[None] | None = None
        # Attempts settle in shared transactions: one fsync for many deliveries.
        # Each attempt comes back as logged, with the id the store gave it.
        self._recorder: GroupCommitter[tuple[AttemptRecord, datetime], AttemptRecord] = (
            GroupCommitter(self._record_batch, name="attempt-recorder", max_batch=limits.window)
        )
        # The background loop and drain() both pump: one at a time, so the slots counted for
        # a claim are still free when it lands.
        self._pumping = asyncio.Lock()
        # When the last pump looked, and when a channel its claim's rate limit held back earns
        # a token again.
        self._pumped_at = now()
        self._next_token_at: datetime | None = None

    def health(self, channel_id: str) -> ChannelHealth:
        return self._health.get(channel_id, ChannelHealth())

    async def start(self) -> None:
        # Whatever a crash left claimed, here or by a replica that is gone, is not in flight.
        await self._store.release_claims()
        self._recorder.start()
        self._health = await self._store.channel_health()
        self._task = asyncio.create_task(self._run(), name="delivery-scheduler")

    async def stop(self, grace: float) -> None:
        """Stop claiming; give attempts in flight `grace` seconds, then cancel them. A
        cancelled attempt stays pending and is sent again after a restart."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        # Nothing new starts: an attempt freeing its slot must not send the next one.
        for channel_id in list(self._ready):
            await self._drop_ready(channel_id)
        if self._in_flight:
            _, unfinished = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        await self._recorder.stop()

    async def drain(self) -> None:
        """Return once nothing is due now and no attempt is in flight."""
        while True:
            # An attempt that ended while the pump was under way may have freed what its claim
            # found taken (a lease under its channel's limit, a ticket's turn): only a pump
            # that no attempt ended beside and that claimed nothing ends the drain.
            ended = self._attempts_ended
            claimed = await self.pump()
            if self._in_flight:
                await asyncio.wait(set(self._in_flight))
            elif not claimed and ended == self._attempts_ended:
                return

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if await self.pump():
                continue
            await wait_for_wake(self._wake, await self.idle_seconds())

    async def idle_seconds(self) -> float:
        """How long the loop sleeps once a pump took nothing: until a delivery falls due, a
        channel its rate limit held back earns a token, or an open circuit's probe is due;
        never longer than `max_idle`. What was due by the last pump and is still unclaimed
        waits for a limit of its channel (its concurrency over every replica, or a ticket's
        earlier delivery): a recorded attempt wakes the loop when one of this scheduler's ends,
        and `max_idle` bounds the wait for another replica's."""
        now = self._now()
        wake_at = now + self._limits.max_idle
        due = await self._store.next_due_at(list(self._claim_rules(now).slots), self._pumped_at)
        probes = [next_probe_at(health, self._breaker) for health in self._health.values()]
        for moment in (due, self._next_token_at, *probes):
            if moment is not None and moment > self._pumped_at:
                wake_at = min(wake_at, moment)
        return max((wake_at - now).total_seconds(), 0.0)

    def _claim_rules(self, now: datetime) -> ClaimRules:
        slots: dict[str, int] = {}
        limits: dict[str, int] = {}
        rates: dict[str, int] = {}
        per_ticket: set[str] = set()
        for channel in self._directory.channels():
            if not channel.spec.enabled:
                continue
            health = self.health(channel.id)
            if not may_send(health, now, self._breaker):
                continue
            limit = self._concurrency(channel)
            # A closed circuit claims one round ahead; an open one only its probe.
            depth = limit if health.state is CircuitState.OPEN else 2 * limit
            free = depth - self._per_channel[channel.id] - len(self._ready[channel.id])
            if free > 0:
                slots[channel.id] = free
                limits[channel.id] = limit
                if rate := channel.spec.rate_limit_per_second:
                    rates[channel.id] = rate
                if channel.spec.ordering is Ordering.PER_TICKET:
                    per_ticket.add(channel.id)
        return ClaimRules(slots, limits, rates, frozenset(per_ticket), self._breaker)

    async def pump(self) -> int:
        """Claim what is due and may be sent now, and start its attempts; how many."""
        async with self._pumping:
            return await self._pump()

    def _concurrency(self, channel: Channel) -> int:
        # A failing channel gets one request at a time until one succeeds, and an open circuit
        # one probe: a receiver that is down or hanging is not sent a fresh round of requests
        # (each a new connection and TLS handshake) every time the last round fails.
        if self.health(channel.id).consecutive_failures:
            return 1
        return channel.spec.max_concurrency or self._limits.channel_concurrency

    async def _pump(self) -> int:
        now = self._pumped_at = self._now()
        waiting = sum(len(ready) for ready in self._ready.values())
        room = self._limits.window - len(self._in_flight) - waiting
        if room <= 0:
            return 0
        rules = self._claim_rules(now)
        claim = await self._store.claim_due(now, now + self._limits.claim_lease, rules, room)
        self._adopt(claim.health)
        self._next_token_at = claim.next_token_at
        held: list[int] = []
        for delivery in claim.deliveries:
            health = self.health(delivery.channel_id)
            if health.state is CircuitState.OPEN:
                # The circuit may have opened while the claim was on its way, in this
                # scheduler's view ahead of the store's: only a due probe goes out, and the rest
                # wait for its answer.
                if not may_send(health, now, self._breaker):
                    held.append(delivery.delivery_id)
                    continue
                self._health[delivery.channel_id] = start_probe(health, now, self._breaker)
            self._ready[delivery.channel_id].append(delivery)
        if held:
            await self._store.release_claims(held)
        for channel_id in {delivery.channel_id for delivery in claim.deliveries}:
            self._send_ready(channel_id)
        return len(claim.deliveries)

    def _send_ready(self, channel_id: str) -> None:
        """Start the channel's claimed deliveries while it has free slots."""
        ready = self._ready[channel_id]
        channel = self._directory.channel(channel_id)
        limit = self._concurrency(channel) if channel is not None else len(ready)
        while ready and self._per_channel[channel_id] < limit:
            delivery = ready.popleft()
            self._per_channel[channel_id] += 1
            self._sending.add(delivery.delivery_id)
            task = asyncio.create_task(self._attempt(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    def _take_ready(self, channel_id: str) -> list[int]:
        """Take back the claims of a channel that may not send them now (it is failing, or was
        disabled); released, they are due again at once when it may."""
        return [delivery.delivery_id for delivery in self._ready.pop(channel_id, ())]

    async def _drop_ready(self, channel_id: str) -> None:
        if dropped := self._take_ready(channel_id):
            await self._store.release_claims(dropped)

    async def _attempt(self, delivery: DueDelivery) -> None:
        try:
            channel = self._directory.channel(delivery.channel_id)
            if channel is not None:
                await self._send(channel, delivery)
        except Exception:
            # The claim lapses and the delivery is tried again; nothing is lost.
            log.exception(
                "delivery attempt failed",
                channel_id=delivery.channel_id,
                event_id=delivery.event_id,
            )
        finally:
            self._free_slot(delivery)
            self._attempts_ended += 1

    def _free_slot(self, delivery: DueDelivery) -> None:
        """The channel may take its next request: called once the response is in, before the
        attempt is recorded, so that a channel's concurrency is spent on the wire only."""
        if delivery.delivery_id in self._sending:
            self._sending.discard(delivery.delivery_id)
            self._per_channel[delivery.channel_id] -= 1
            self._send_ready(delivery.channel_id)
            self._wake.set()

    async def _post(
        self,
        channel: Channel,
        delivery: DueDelivery,
        *,
        started: datetime,
        message_id: str,
        attempt: int,
    ) -> HttpOutcome:
        body = event_body(delivery.payload, delivery.event_type, channel.id)
        headers = webhook_headers(
            keys=await self._directory.signing_keys(channel.id, started),
            webhook_id=message_id,
            timestamp=int(started.timestamp()),
            body=body,
            event_type=delivery.event_type.value,
            attempt=attempt,
        )
        return await self._client.post(channel.spec.url, body, headers)

    async def _send(self, channel: Channel, delivery: DueDelivery) -> None:
        started = self._now()
        attempt = delivery.attempts + 1
        message_id = webhook_id(channel.id, delivery.event_id)
        try:
            outcome = await self._post(
                channel, delivery, started=started, message_id=message_id, attempt=attempt
            )
        except Exception as error:
            # A fault of deskhook's own (a stored event it cannot render, a failed read): the
            # attempt is logged as failed and retried on the channel's schedule, so that one
            # delivery cannot hold its channel's slot, or its ticket's turn, for ever.
            log.exception(
                "could not make the request",
                channel_id=channel.id,
                event_id=delivery.event_id,
            )
            outcome = HttpOutcome.internal(
                f"deskhook could not make the request ({type(error).__name__}); the server's"
                " log has the details",
                (self._now() - started).total_seconds(),
            )
        finished = self._now()
        decision = decide(
            outcome,
            attempt=attempt,
            retries_enabled=channel.spec.retries_enabled,
            schedule=channel.spec.retry_schedule,
            now=finished,
            jitter=self._jitter(),
        )
        counted = concerns_receiver(outcome.failure)
        if counted:
            self._record_health(channel.id, outcome.succeeded, finished)
        # What was claimed ahead for the full concurrency waits, unclaimed, for a success: taken
        # back before the slot frees and starts the next, and released once recorded, with
        # nothing between counting the result and submitting it.
        dropped = [] if outcome.succeeded or not counted else self._take_ready(channel.id)
        # The delivery stays claimed (and, for PER_TICKET, first of its ticket) until recorded.
        self._free_slot(delivery)
        record = AttemptRecord(
            delivery_id=delivery.delivery_id,
            channel_id=channel.id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            ticket_id=delivery.ticket_id,
            ticket_number=delivery.ticket_number,
            attempt=attempt,
            http_status=outcome.http_status,
            response_body=outcome.response_body,
            outcome=_OUTCOMES[decision.verdict],
            attempted_at=started,
            duration=timedelta(seconds=outcome.duration),
            error=outcome.error,
            failure=outcome.failure,
            webhook_id=message_id,
            next_attempt_at=decision.next_attempt_at,
        )
        (logged,) = await self._recorder.submit([(record, finished)])
        if dropped:
            await self._store.release_claims(dropped)
        log.info(
            "attempt",
            channel_id=channel.id,
            event_id=delivery.event_id,
            ticket_id=delivery.ticket_id,
            attempt=attempt,
            http_status=outcome.http_status,
            outcome=record.outcome.value,
            error=outcome.error,
            duration_ms=round(outcome.duration * 1000, 1),
        )
        self._on_attempt(logged)
        await self._disable_if_due(channel, decision, finished)

    async def _record_batch(
        self, attempts: list[tuple[AttemptRecord, datetime]]
    ) -> list[AttemptRecord]:
        try:
            finished = await self._store.finish_attempts(attempts, self._breaker)
        finally:
            for record, _ in attempts:
                if concerns_receiver(record.failure):
                    self._unsettled[record.channel_id] -= 1
        self._adopt(finished.health)
        # Their leases ended, and a ticket's next delivery may be first now: claim again.
        self._wake.set()
        return finished.records

    def _record_health(self, channel_id: str, succeeded: bool, now: datetime) -> None:
        """Count an attempt's result into this scheduler's view at once; the store counts it
        into the stored health when the attempt is recorded."""
        self._health[channel_id] = record_result(
            self.health(channel_id), succeeded, now, self._breaker
        )
        self._unsettled[channel_id] += 1

    def _adopt(self, stored: Mapping[str, ChannelHealth]) -> None:
        """Take the store's health of these channels, which counts every replica's results,
        for those with none of this scheduler's still on their way to it."""
        for channel_id, health in stored.items():
            if not self._unsettled[channel_id]:
                self._health[channel_id] = health

    async def _disable_if_due(self, channel: Channel, decision: Decision, now: datetime) -> None:
        health = self.health(channel.id)
        if decision.verdict is Verdict.DISABLE_CHANNEL:
            reason = decision.reason
        elif should_disable(health, now, self._breaker):
            days = self._breaker.disable_after / timedelta(days=1)
            reason = f"no successful delivery for {days:g} days"
        else:
            return
        await self._store.disable_channel(channel.id, reason, now)
        await self._drop_ready(channel.id)
        self._health[channel.id] = replace(health, probe_in_flight=False)
        await self._directory.refresh()
        log.warning("channel disabled", channel_id=channel.id, reason=reason)
