"""The scheduler's own decisions, on the in-memory store and a scripted HTTP client, without a
server or a receiver: how many deliveries it claims and sends at once, how it shares its window
between accounts and channels, that it adopts the health the store returns, and how long it
sleeps when nothing may go out now."""

import asyncio
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from deskhook.delivery.http_client import WebhookClient
from deskhook.delivery.loop_lag import LoopWindow
from deskhook.delivery.scheduler import DeliveryScheduler, SchedulerLimits
from deskhook.domain.breaker import BreakerPolicy, CircuitState
from deskhook.domain.delivery import Attempt
from deskhook.domain.events import MatchedEvent
from deskhook.domain.responses import FailureReason, HttpResponse
from deskhook.domain.shares import LoopPolicy
from deskhook.domain.url_policy import UrlPolicy
from deskhook.store.base import Claimed, ClaimRules
from deskhook.store.directory import ChannelDirectory
from deskhook.store.memory.store import MemoryStore
from tests.support.clock import FakeClock
from tests.support.events import make_event
from tests.support.store_items import NOW, failed, make_channel, matched

DELIVERED = HttpResponse(200, "", None, "", 0.01, None)
REFUSED = HttpResponse(500, "", FailureReason.HTTP_STATUS, "HTTP 500", 0.01, None)
BREAKER = BreakerPolicy(failure_threshold=2)
# The background loop sleeps until woken: only drain() and the scheduler's own wake-ups pump.
SLEEPY = SchedulerLimits(max_idle=timedelta(hours=1))
# A bound on waits for what the scheduler does by itself, so that a test fails, not hangs.
WAIT_SECONDS = 10.0


class ScriptedClient(WebhookClient):
    """Answers every POST with the next scripted outcome (DELIVERED once they run out), each
    after `hold` opens (those to `held_urls` alone, when set), and keeps what it saw: the
    requests' URLs, how many were on the wire at once at most, and when the first `waiting_for`
    were."""

    def __init__(self, *outcomes: HttpResponse) -> None:
        super().__init__(UrlPolicy())
        self.outcomes = list(outcomes)
        self.hold = asyncio.Event()
        self.hold.set()
        self.held_urls: set[str] | None = None
        self.urls: list[str] = []
        self.on_the_wire = self.most_on_the_wire = 0
        self.waiting_for = 0
        self.reached = asyncio.Event()
        self._posted = asyncio.Condition()

    async def wait_for_url(self, url: str) -> int:
        """How many requests came before the first to `url`, once it has come."""
        async with self._posted:
            await self._posted.wait_for(lambda: url in self.urls)
        return self.urls.index(url)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        self.urls.append(url)
        async with self._posted:
            self._posted.notify_all()
        self.on_the_wire += 1
        self.most_on_the_wire = max(self.most_on_the_wire, self.on_the_wire)
        if self.on_the_wire == self.waiting_for:
            self.reached.set()
        try:
            if self.held_urls is None or url in self.held_urls:
                await self.hold.wait()
            # A few turns of the loop on the wire, so that attempts started together overlap.
            for _ in range(3):
                await asyncio.sleep(0)
        finally:
            self.on_the_wire -= 1
        return self.outcomes.pop(0) if self.outcomes else DELIVERED


@dataclass
class Running:
    store: MemoryStore
    directory: ChannelDirectory
    scheduler: DeliveryScheduler
    client: ScriptedClient
    clock: FakeClock
    logged: list[Attempt]
    # What ingest sets when it commits: deliveries may be due on any channel.
    wake: asyncio.Event


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def client() -> ScriptedClient:
    return ScriptedClient()


@pytest.fixture
def limits() -> SchedulerLimits:
    return SLEEPY


@pytest.fixture
def store(request: pytest.FixtureRequest) -> MemoryStore:
    """The in-memory store, or the subclass of it a test names (`indirect` parametrize)."""
    kind: type[MemoryStore] = getattr(request, "param", MemoryStore)
    return kind()


@pytest.fixture
def loop_window() -> LoopWindow | None:
    """The window as the loop's lag sets it, when a test sets it itself."""
    return None


@pytest.fixture
async def running(
    store: MemoryStore,
    clock: FakeClock,
    client: ScriptedClient,
    limits: SchedulerLimits,
    loop_window: LoopWindow | None,
) -> AsyncIterator[Running]:
    """A started scheduler over an in-memory store; channels are added with `add`."""
    directory = ChannelDirectory(store)
    logged: list[Attempt] = []
    wake = asyncio.Event()
    scheduler = DeliveryScheduler(
        store,
        directory,
        client,
        now=clock,
        jitter=lambda: 0.5,
        random_bytes=os.urandom,
        wake=wake,
        on_attempt=logged.append,
        limits=limits,
        breaker=BREAKER,
        window=loop_window,
    )
    await scheduler.start()
    try:
        yield Running(store, directory, scheduler, client, clock, logged, wake)
    finally:
        await scheduler.stop(grace=0)
        await directory.close()


async def add(running: Running, channel_id: str, account_id: str = "", **spec: Any) -> None:
    """A channel of `account_id` as make_channel() makes it, with `spec` changed, and the
    scheduler told."""
    channel = make_channel(channel_id)
    channel = replace(
        channel,
        spec=replace(channel.spec, url=url_of(channel_id), **spec),
        account_id=account_id,
    )
    await running.store.insert_channel(channel, "whsec_test", None)
    await running.directory.refresh()


def url_of(channel_id: str) -> str:
    return f"https://{channel_id}.test/"


async def publish(running: Running, channel_id: str, count: int) -> None:
    """`count` events for the channel, each of its own ticket, stored as ingest stores them."""
    events = [matched(f"{channel_id}-{n}", channel_id, ticket_id=n) for n in range(count)]
    await running.store.ingest(
        [
            MatchedEvent(
                m.event._replace(payload=make_event(m.event.event_id).SerializeToString()),
                m.channel_ids,
            )
            for m in events
        ],
        running.clock(),
    )


async def test_a_channels_concurrency_holds_and_its_next_round_is_claimed_ahead(
    running: Running,
) -> None:
    await add(running, "a", max_concurrency=2)
    await publish(running, "a", 10)
    running.client.hold.clear()
    running.client.waiting_for = 2
    draining = asyncio.create_task(running.scheduler.drain())
    await running.client.reached.wait()
    # Two on the wire and two more claimed ahead, ready for the slots they free: the store
    # has the other six left to claim.
    left = await running.store.claim_due(
        running.clock(), running.clock(), ClaimRules({"a": 100}), 100
    )
    assert (running.client.on_the_wire, len(left.deliveries)) == (2, 6)
    running.client.hold.set()
    await draining
    assert (len(running.logged), running.client.most_on_the_wire) == (10, 2)
    assert await running.store.pending_deliveries(["a"]) == {}


@pytest.mark.parametrize("limits", [replace(SLEEPY, window=4)])
async def test_the_window_bounds_what_is_in_flight_over_every_channel(
    running: Running, limits: SchedulerLimits
) -> None:
    for channel_id in ("a", "b", "c"):
        await add(running, channel_id)
        await publish(running, channel_id, 5)
    await running.scheduler.drain()
    assert (len(running.logged), running.client.most_on_the_wire) == (15, limits.window)


# A window of 8, and account "a"'s backlog: 20 deliveries on each of 6 channels, enough to fill
# it many times over, with their receivers holding every request.
SMALL_WINDOW = replace(SLEEPY, window=8)
BACKLOG_CHANNELS = [f"a{n}" for n in range(6)]


@asynccontextmanager
async def draining(running: Running) -> AsyncIterator[None]:
    """A drain under way while the body runs, bounded; then the held requests answered and the
    drain finished."""
    drain = asyncio.create_task(running.scheduler.drain())
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            yield
    finally:
        running.client.hold.set()
        await drain


async def hold_a_backlog(running: Running) -> None:
    for channel_id in BACKLOG_CHANNELS:
        await add(running, channel_id, account_id="a")
        await publish(running, channel_id, 20)
    running.client.held_urls = {url_of(channel_id) for channel_id in BACKLOG_CHANNELS}
    running.client.hold.clear()


@pytest.mark.parametrize("limits", [SMALL_WINDOW])
@pytest.mark.parametrize("account_id", ["b", "a"], ids=["another account", "the same account"])
async def test_a_backlog_does_not_hold_up_a_delivery_due_later(
    running: Running, account_id: str
) -> None:
    await hold_a_backlog(running)
    # Due a second after the whole backlog: taken earliest first, it would wait for all 120.
    running.clock.advance(timedelta(seconds=1))
    await add(running, "b", account_id=account_id)
    await publish(running, "b", 1)
    async with draining(running):
        # It goes out in the first round, beside the backlog's share of the window.
        assert await running.client.wait_for_url(url_of("b")) < SMALL_WINDOW.window
    assert len(running.logged) == 121


@pytest.mark.parametrize("limits", [SMALL_WINDOW])
async def test_an_account_below_its_share_claims_past_a_window_slow_receivers_fill(
    running: Running,
) -> None:
    await add(running, "b", account_id="b")
    await hold_a_backlog(running)
    running.client.waiting_for = SMALL_WINDOW.window
    async with draining(running):
        # With nothing of "b" due, "a" takes the whole window, and its receivers hold it.
        await running.client.reached.wait()
        # Ingest commits a delivery of "b" and wakes the scheduler: "b" has its share at once,
        # not after "a"'s requests time out.
        await publish(running, "b", 1)
        running.wake.set()
        await running.client.wait_for_url(url_of("b"))
        assert running.client.most_on_the_wire == SMALL_WINDOW.window + 1
    assert len(running.logged) == 121


class CountingStore(MemoryStore):
    """The in-memory store, counting how often the scheduler asks when something falls due, and
    noting which channels each claim asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.due_lookups = 0
        self.claims_asked: list[set[str]] = []

    async def next_due_at(self, channel_ids: Sequence[str], after: datetime) -> datetime | None:
        self.due_lookups += 1
        return await super().next_due_at(channel_ids, after)

    async def claim_due(
        self, now: datetime, claim_until: datetime, rules: ClaimRules, limit: int
    ) -> Claimed:
        self.claims_asked.append(set(rules.slots))
        return await super().claim_due(now, claim_until, rules, limit)


@pytest.mark.parametrize("store", [CountingStore], indirect=True)
async def test_deliveries_due_on_named_channels_are_claimed_from_those_alone(
    running: Running, store: CountingStore
) -> None:
    for n in range(5):
        await add(running, f"idle{n}", account_id=f"idle{n}")
    await add(running, "b", account_id="b")
    # Every channel was asked once and had nothing due.
    await running.scheduler.drain()
    store.claims_asked.clear()
    await publish(running, "b", 1)
    running.scheduler.due_on({"b"})
    await running.client.wait_for_url(url_of("b"))
    assert store.claims_asked == [{"b"}]


@pytest.mark.parametrize("store", [CountingStore], indirect=True)
@pytest.mark.parametrize("limits", [SMALL_WINDOW])
async def test_a_full_window_waits_for_an_attempt_to_end_without_asking_the_store(
    running: Running, store: CountingStore
) -> None:
    await hold_a_backlog(running)
    running.client.waiting_for = SMALL_WINDOW.window
    async with draining(running):
        await running.client.reached.wait()
        await running.scheduler.pump()
        # Due deliveries wait for room, and an attempt that ends wakes the loop: sleeping on
        # needs no lookup, on every freed slot of a busy scheduler.
        lookups = store.due_lookups
        assert await running.scheduler.idle_seconds() == SMALL_WINDOW.max_idle.total_seconds()
        assert store.due_lookups == lookups
    assert len(running.logged) == 120


@pytest.mark.parametrize("limits", [SMALL_WINDOW])
async def test_accounts_with_nothing_due_leave_the_window_to_one_that_has(
    running: Running,
) -> None:
    for n in range(5):
        await add(running, f"idle{n}", account_id=f"idle{n}")
    await add(running, "a", account_id="a")
    await publish(running, "a", 20)
    running.client.hold.clear()
    running.client.waiting_for = SMALL_WINDOW.window
    async with draining(running):
        # The idle accounts' shares come back unused from the first claim and go to "a" in
        # the next: the whole window is on the wire, not a sixth of it.
        await running.client.reached.wait()
    assert running.client.most_on_the_wire == SMALL_WINDOW.window


def lagging_loop_window() -> LoopWindow:
    """SMALL_WINDOW's window as a loop lagging for a while leaves it: 4 of 8."""
    window = LoopWindow(SMALL_WINDOW.window, LoopPolicy(target=0.005, floor=2))
    for _ in range(4):
        window.read(1.0, 1.0)
    assert window.current == 4
    return window


@pytest.mark.parametrize("limits", [SMALL_WINDOW])
@pytest.mark.parametrize("loop_window", [lagging_loop_window()])
@pytest.mark.parametrize("sharing", [False, True], ids=["alone", "beside another account"])
async def test_accounts_sharing_the_window_keep_to_what_the_loop_keeps_up_with(
    running: Running, sharing: bool
) -> None:
    if sharing:
        await add(running, "b", account_id="b")
        await publish(running, "b", 20)
    await hold_a_backlog(running)
    if sharing:
        running.client.held_urls = None  # b's too
    async with draining(running):
        # An account alone has the whole window however the loop lags; accounts sharing it,
        # what the loop keeps up with.
        running.client.waiting_for = 4 if sharing else SMALL_WINDOW.window
        await running.client.reached.wait()
    assert running.client.most_on_the_wire == (4 if sharing else SMALL_WINDOW.window)


@pytest.mark.parametrize("limits", [SMALL_WINDOW])
@pytest.mark.parametrize("loop_window", [lagging_loop_window()])
async def test_an_account_active_a_moment_ago_still_shares_the_window(running: Running) -> None:
    # b had a delivery a moment ago (within max_idle) and has nothing now: one that publishes
    # now and then shares the window between its events too.
    await add(running, "b", account_id="b")
    await publish(running, "b", 1)
    await running.scheduler.drain()
    await hold_a_backlog(running)
    async with draining(running):
        running.client.waiting_for = 4
        await running.client.reached.wait()
    assert running.client.most_on_the_wire == 4


async def test_the_scheduler_adopts_the_circuit_another_replica_opened(running: Running) -> None:
    await add(running, "a")
    await publish(running, "a", 4)
    # Another replica sharing the store sends two and records their failures: the stored
    # circuit opens, and this scheduler's own view has seen nothing of it.
    now = running.clock()
    theirs = await running.store.claim_due(now, now, ClaimRules({"a": 2}, breaker=BREAKER), 2)
    await running.store.finish_attempts([failed(due, now) for due in theirs.deliveries], BREAKER)
    assert running.scheduler.health("a").state is CircuitState.CLOSED
    await running.scheduler.drain()
    assert (running.scheduler.health("a").state, running.client.urls) == (CircuitState.OPEN, [])
    # Its probe goes out alone once due; its success closes the circuit, and the rest follow.
    running.clock.advance(BREAKER.probe_interval)
    await running.scheduler.drain()
    assert running.scheduler.health("a").state is CircuitState.CLOSED
    assert [record.event_id for record in running.logged[:1]] == ["a-0"]
    assert len(running.logged) == 4


@pytest.mark.parametrize("limits", [replace(SLEEPY, max_idle=timedelta(seconds=60))])
async def test_the_scheduler_sleeps_until_the_next_delivery_falls_due(running: Running) -> None:
    running.client.outcomes = [REFUSED]
    await add(running, "a", retries_enabled=True, retry_schedule=(timedelta(seconds=20),))
    await publish(running, "a", 1)
    await running.scheduler.drain()
    # Its retry is due in 20 s: the loop sleeps that long, not its whole idle time...
    assert await running.scheduler.idle_seconds() == 20.0
    running.clock.advance(timedelta(seconds=5))
    assert await running.scheduler.idle_seconds() == 15.0
    # ...and, once it is sent, nothing is due: then the idle time bounds the sleep.
    running.clock.advance(timedelta(seconds=15))
    await running.scheduler.drain()
    assert len(running.logged) == 2
    assert await running.scheduler.idle_seconds() == 60.0


@pytest.mark.parametrize("limits", [replace(SLEEPY, max_idle=timedelta(seconds=60))])
async def test_the_scheduler_sleeps_until_a_rate_limited_channel_earns_a_token(
    running: Running,
) -> None:
    await add(running, "a", rate_limit_per_second=4)
    await publish(running, "a", 6)
    await running.scheduler.drain()
    assert len(running.logged) == 4
    assert await running.scheduler.idle_seconds() == 0.25
    running.clock.advance(timedelta(seconds=1))
    await running.scheduler.drain()
    assert len(running.logged) == 6
