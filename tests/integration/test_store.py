"""The Store interface itself, on every store (in memory, SQLite, PostgreSQL): what ingest
answers for duplicates, how claims hold and end, what ClaimRules let through, how attempts
settle deliveries, and how the log pages."""

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from deskhook.domain.accounts import EVERY_ACCOUNT
from deskhook.domain.breaker import DEFAULT_POLICY, BreakerPolicy, ChannelHealth, CircuitState
from deskhook.domain.channel_spec import Ordering
from deskhook.domain.delivery import AttemptOutcome
from deskhook.domain.events import IngestResult
from deskhook.domain.times import to_micros
from deskhook.store.base import ClaimRules, LogFilter, Store
from tests.support.store_items import (
    LEASE,
    MICROSECOND,
    NOW,
    add_channels,
    attempt,
    claim,
    claim_within,
    failed,
    make_channel,
    matched,
)


@pytest.fixture
async def store(empty_store: Store) -> Store:
    await add_channels(empty_store, "a", "b")
    return empty_store


async def test_a_duplicate_answers_with_the_first_match_count(store: Store) -> None:
    first = await store.ingest(
        [matched("e1", "a", "b"), matched("e1", "a"), matched("e2", "a")], NOW
    )
    again = await store.ingest([matched("e1"), matched("e3", "b")], NOW)
    assert first == [IngestResult(True, 2), IngestResult(False, 2), IngestResult(True, 1)]
    assert again == [IngestResult(False, 2), IngestResult(True, 1)]
    assert await store.pending_deliveries(["a", "b", "c"]) == {"a": 2, "b": 2}


async def test_a_deleted_channel_gets_no_delivery(store: Store) -> None:
    await store.delete_channel(EVERY_ACCOUNT, "b")
    assert await store.ingest([matched("e1", "a", "b")], NOW) == [IngestResult(True, 2)]
    assert await store.pending_deliveries(["a", "b"]) == {"a": 1}


async def test_a_claim_holds_until_its_lease_runs_out(store: Store) -> None:
    await store.ingest([matched("e1", "a")], NOW)
    (claimed,) = await claim(store, ["a"])
    assert await claim(store, ["a"], NOW + LEASE - timedelta(microseconds=1)) == []
    assert await claim(store, ["a"], NOW + LEASE) == [claimed]


async def test_released_claims_are_claimable_at_once(store: Store) -> None:
    await store.ingest([matched("e1", "a"), matched("e2", "a")], NOW)
    first, second = await claim(store, ["a"])
    await store.release_claims([first.delivery_id])
    assert await claim(store, ["a"]) == [first]
    await store.release_claims()
    assert await claim(store, ["a"]) == [first, second]


async def test_claims_keep_to_each_channels_slots_and_ticket_order(store: Store) -> None:
    await store.insert_channel(make_channel("p", Ordering.PER_TICKET), "whsec_test", None)
    await store.ingest(
        [
            matched("t1-1", "a", "p", ticket_id=1),
            matched("t1-2", "a", "p", ticket_id=1),
            matched("t2-1", "a", "p", ticket_id=2),
        ],
        NOW,
    )
    rules = ClaimRules({"a": 2, "p": 10}, per_ticket=frozenset({"p"}))
    claimed = (await claim_within(store, rules, limit=10)).deliveries
    assert [(d.channel_id, d.event_id) for d in claimed] == [
        ("a", "t1-1"),
        ("p", "t1-1"),
        ("a", "t1-2"),
        ("p", "t2-1"),
    ]
    # The limit counts over every channel; a claimed delivery still holds its ticket back.
    await store.release_claims()
    assert len((await claim_within(store, rules, limit=3)).deliveries) == 3
    rest = (await claim_within(store, rules, limit=10)).deliveries
    assert [(d.channel_id, d.event_id) for d in rest] == [("a", "t2-1"), ("p", "t2-1")]


async def test_a_rate_limit_spends_tokens_claimed_and_says_when_the_next_one_comes(
    store: Store,
) -> None:
    await store.ingest([matched(f"e{n}", "a", ticket_id=n) for n in range(6)], NOW)
    rules = ClaimRules({"a": 10}, rates={"a": 2})
    half_second = timedelta(milliseconds=500)
    first = await claim_within(store, rules)
    assert ([d.event_id for d in first.deliveries], first.next_token_at) == (
        ["e0", "e1"],
        NOW + half_second,
    )
    spent = await claim_within(store, rules)
    assert (spent.deliveries, spent.next_token_at) == ([], NOW + half_second)
    assert [
        d.event_id for d in (await claim_within(store, rules, NOW + half_second)).deliveries
    ] == ["e2"]
    # A second's rest fills the bucket, and no more.
    later = await claim_within(store, rules, NOW + 10 * half_second)
    assert ([d.event_id for d in later.deliveries], later.next_token_at) == (
        ["e3", "e4"],
        NOW + 11 * half_second,
    )


async def test_the_stored_circuit_holds_a_channel_and_lets_one_probe_through(store: Store) -> None:
    breaker = BreakerPolicy(failure_threshold=2)
    await store.ingest([matched(f"e{n}", "a", ticket_id=n) for n in range(4)], NOW)
    rules = ClaimRules({"a": 10}, breaker=breaker)
    failing = (await claim_within(store, ClaimRules({"a": 2}, breaker=breaker))).deliveries
    opened = ChannelHealth(CircuitState.OPEN, 2, failing_since=NOW, opened_at=NOW)
    finished = await store.finish_attempts([failed(due, NOW) for due in failing], breaker)
    assert finished.health == {"a": opened}
    assert (await store.channel_health())["a"] == opened
    # Held until its probe is due; then one delivery, and no other while it is out.
    probe_at = NOW + breaker.probe_interval
    assert (await claim_within(store, rules, probe_at - MICROSECOND)).deliveries == []
    probe = await claim_within(store, rules, probe_at)
    assert (len(probe.deliveries), probe.health["a"]) == (1, opened)
    assert (await claim_within(store, rules, probe_at)).deliveries == []
    # A failed probe opens the circuit afresh.
    reopened = await store.finish_attempts([failed(probe.deliveries[0], probe_at)], breaker)
    assert reopened.health["a"].opened_at == probe_at
    next_probe_at = probe_at + breaker.probe_interval
    assert (await claim_within(store, rules, next_probe_at - MICROSECOND)).deliveries == []
    # A successful one closes it, and the channel's deliveries go out again.
    (last_probe,) = (await claim_within(store, rules, next_probe_at)).deliveries
    closed = await store.finish_attempts(
        [attempt(last_probe, AttemptOutcome.DELIVERED, next_probe_at)], breaker
    )
    assert closed.health == {"a": ChannelHealth(last_success_time=next_probe_at)}
    assert len((await claim_within(store, rules, next_probe_at)).deliveries) == 3


async def test_attempts_settle_their_deliveries(store: Store) -> None:
    await store.ingest([matched("ok", "a"), matched("retry", "a"), matched("lost", "b")], NOW)
    ok, retry, lost = await claim(store, ["a", "b"])
    later = NOW + timedelta(minutes=5)
    await store.finish_attempts(
        [
            attempt(ok, AttemptOutcome.DELIVERED),
            attempt(retry, AttemptOutcome.RETRY_SCHEDULED, next_attempt_at=later),
            attempt(lost, AttemptOutcome.GIVEN_UP),
        ],
        DEFAULT_POLICY,
    )
    assert await claim(store, ["a", "b"]) == []
    # Due by then and unclaimed, a delivery waits for a limit of its channel, not for a time.
    await store.ingest([matched("waiting", "b")], NOW)
    assert await store.next_due_at(["a", "b"], NOW) == later
    assert await store.pending_deliveries(["a", "b"]) == {"a": 1, "b": 1}
    assert await claim(store, ["a"], later) == [replace(retry, attempts=1)]
    health = await store.channel_health()
    assert (health["a"].consecutive_failures, health["b"].consecutive_failures) == (1, 1)

    assert await store.redeliver(EVERY_ACCOUNT, "b", None, NOW, later) == 1
    assert [d.event_id for d in await claim(store, ["b"], later)] == ["waiting", "lost"]
    assert await store.redeliver(EVERY_ACCOUNT, "a", "ok", None, later) == 1
    assert [d.event_id for d in await claim(store, ["a"], later)] == ["ok"]


async def test_the_log_pages_newest_first_by_time_then_id(store: Store) -> None:
    await store.ingest([matched(f"e{n}", "a") for n in range(5)], NOW)
    due = await claim(store, ["a"])
    # Three attempts share a time: the id breaks the tie, and no page repeats or skips one.
    times = [NOW, NOW, NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=2)]
    await store.finish_attempts(
        [attempt(d, AttemptOutcome.DELIVERED, at) for d, at in zip(due, times, strict=True)],
        DEFAULT_POLICY,
    )
    pages: list[list[str]] = []
    before: tuple[int, int] | None = None
    while page := await store.list_attempts(EVERY_ACCOUNT, LogFilter(channel_id="a"), before, 2):
        pages.append([record.event_id for record in page])
        before = (to_micros(page[-1].attempted_at), page[-1].id)
    assert pages == [["e4", "e3"], ["e2", "e1"], ["e0"]]
    window = LogFilter(start_time=NOW, end_time=NOW + timedelta(seconds=1), event_id="e1")
    assert [r.event_id for r in await store.list_attempts(EVERY_ACCOUNT, window, None, 10)] == [
        "e1"
    ]
    failed = LogFilter(outcome=AttemptOutcome.GIVEN_UP)
    assert await store.list_attempts(EVERY_ACCOUNT, failed, None, 10) == []


async def test_recorded_attempts_come_back_with_their_log_ids(store: Store) -> None:
    await store.ingest([matched(f"e{n}", "a", "b") for n in range(3)], NOW)
    due = await claim(store, ["a", "b"])
    # Two batches, in an order unlike the log's: each record comes back as the log lists it.
    batches = [due[:4][::-1], due[4:]]
    logged = [
        record
        for batch in batches
        for record in (
            await store.finish_attempts(
                [attempt(d, AttemptOutcome.DELIVERED) for d in batch], DEFAULT_POLICY
            )
        ).attempts
    ]
    assert [record.delivery_id for record in logged] == [
        d.delivery_id for batch in batches for d in batch
    ]
    listed = await store.list_attempts(EVERY_ACCOUNT, LogFilter(), None, 10)
    assert sorted(logged, key=lambda r: r.id) == sorted(listed, key=lambda r: r.id)
    assert all(record.id for record in logged)


async def test_a_read_sees_every_earlier_write_while_other_reads_run(store: Store) -> None:
    # Reads under way all the time, as the scheduler's: a read started after a commit must not
    # share the snapshot of one started before it.
    busy = True

    async def keep_reading() -> None:
        while busy:
            await store.next_due_at(["a"], NOW)
            await store.pending_deliveries(["a"])

    reading = asyncio.create_task(keep_reading())
    try:
        for number in range(300):
            await add_channels(store, f"new-{number}")
            assert await store.get_channel(EVERY_ACCOUNT, f"new-{number}") is not None, number
    finally:
        busy = False
        await reading
