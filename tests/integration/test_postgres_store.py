"""What only the PostgreSQL store has to get right, as several replicas share one database:
migrations run once however many start together, claims are leases that two replicas never
both hold, a replica's claims outlive its restarts only while it lives, a channel's limits hold
over every replica, ingest holds up when another replica writes the same rows at the same
moment, claims read a few rows whatever plan PostgreSQL reuses, and a healthy channel's row is
written once a minute (docs/design.md §5.9)."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from deskhook.domain.accounts import EVERY_ACCOUNT
from deskhook.domain.breaker import DEFAULT_POLICY, BreakerPolicy, CircuitState
from deskhook.domain.channel_spec import Ordering
from deskhook.domain.delivery import AttemptOutcome
from deskhook.domain.events import IngestResult
from deskhook.domain.times import to_micros
from deskhook.store.base import Claimed, ClaimRules, StoreOpenError
from deskhook.store.migration_files import load_migrations
from deskhook.store.postgres import migrations
from deskhook.store.postgres.claim_queries import CLAIM, LOCK_CHANNELS, NEXT_DUE
from deskhook.store.postgres.store import PostgresStore
from tests.support.databases import PostgresServer, blocked_on_a_lock
from tests.support.store_items import (
    MICROSECOND,
    NOW,
    add_channels,
    attempt,
    claim,
    claim_within,
    failed,
    make_channel,
    matched,
    opened,
)

SCHEMA = (
    "SELECT table_name, column_name, data_type, is_nullable, column_default"
    " FROM information_schema.columns WHERE table_schema = 'public'"
    " UNION ALL SELECT tablename, indexname, indexdef, '', '' FROM pg_indexes"
    " WHERE schemaname = 'public' ORDER BY 1, 2"
)


@asynccontextmanager
async def session(database: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection, to act as another replica would in the middle of its work."""
    connection = await asyncpg.connect(database)
    try:
        yield connection
    finally:
        await connection.close()


async def end_lease_owners(database: str) -> None:
    """The replicas holding leases die: their sessions end, and their claim owner locks too."""
    async with session(database) as db:
        await db.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks"
            " WHERE locktype = 'advisory' AND objsubid = 2"
            " AND objid::bigint IN (SELECT claimed_by FROM deliveries)"
        )


def event_ids(claimed: Claimed) -> list[str]:
    return [delivery.event_id for delivery in claimed.deliveries]


@pytest.fixture
async def empty_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    url = await postgres_server.create_database(template="template0")
    yield url
    await postgres_server.drop_database(url)


async def test_migrations_applied_twice_change_nothing(postgres_database: str) -> None:
    async with opened(postgres_database), session(postgres_database) as db:
        first = await db.fetch(SCHEMA)
    async with opened(postgres_database) as store, session(postgres_database) as db:
        assert await store.schema_version() == len(load_migrations(migrations.PACKAGE))
        assert await db.fetch(SCHEMA) == first
        applied = await db.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [tuple(row) for row in applied] == [
        (migration.version, migration.name) for migration in load_migrations(migrations.PACKAGE)
    ]


async def test_replicas_starting_together_migrate_once(empty_database: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(empty_database) for _ in range(4)))
    try:
        versions = {await store.schema_version() for store in stores}
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    assert versions == {len(load_migrations(migrations.PACKAGE))}


async def test_a_database_from_a_newer_deskhook_is_refused(postgres_database: str) -> None:
    async with session(postgres_database) as db:
        await db.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    with pytest.raises(StoreOpenError, match="schema version 999, newer than this deskhook"):
        await PostgresStore.open(postgres_database)


async def test_two_replicas_never_claim_the_same_delivery(postgres_database: str) -> None:
    async with opened(postgres_database) as first, opened(postgres_database) as second:
        await add_channels(first, "a")
        await first.ingest([matched(f"e{n}", "a") for n in range(40)], NOW)
        # A claim under way elsewhere holds a row: it is skipped, not waited for.
        async with session(postgres_database) as db, db.transaction(), asyncio.timeout(10):
            await db.execute("SELECT 1 FROM deliveries WHERE id = 1 FOR UPDATE")
            taken = await asyncio.gather(claim(first, ["a"]), claim(second, ["a"]))
        ids = [delivery.delivery_id for claimed in taken for delivery in claimed]
        assert [len(claimed) for claimed in taken] == [10, 10]
        assert sorted(ids) == list(range(2, 22))


async def test_a_replicas_claims_return_to_the_others_as_soon_as_it_is_gone(
    postgres_database: str,
) -> None:
    async with opened(postgres_database) as survivor, opened(postgres_database) as replica:
        await add_channels(survivor, "a")
        await survivor.ingest([matched("e1", "a"), matched("e2", "a")], NOW)
        held = await claim(replica, ["a"])
        # Starting up, or giving back by id, a replica frees none of another live one's.
        await survivor.release_claims()
        await survivor.release_claims([delivery.delivery_id for delivery in held])
        assert await claim(survivor, ["a"]) == []
        await end_lease_owners(postgres_database)
        assert await claim(survivor, ["a"]) == held


async def test_a_replica_that_stops_gives_its_claims_back(postgres_database: str) -> None:
    async with opened(postgres_database) as survivor:
        await add_channels(survivor, "a")
        await survivor.ingest([matched("e1", "a")], NOW)
        async with opened(postgres_database) as replica:
            held = await claim(replica, ["a"])
        assert await claim(survivor, ["a"]) == held


async def test_an_event_stored_by_another_replica_meanwhile_is_a_duplicate(
    postgres_database: str,
) -> None:
    async with opened(postgres_database) as store, session(postgres_database) as other:
        await add_channels(store, "a")
        async with other.transaction():
            await other.execute(
                "INSERT INTO events (event_id, event_type, ticket_id, ticket_number,"
                " occurred_at, received_at, matched_channels, payload)"
                " VALUES ('e1', 'ticket_create', 1, 'HD-1', 0, 0, 3, '')"
            )
            ingesting = asyncio.create_task(store.ingest([matched("e1", "a")], NOW))
            await blocked_on_a_lock(other)
        assert await ingesting == [IngestResult(False, 3)]
        assert await store.pending_deliveries(["a"]) == {}


async def test_a_channel_deleted_by_another_replica_meanwhile_gets_no_delivery(
    postgres_database: str,
) -> None:
    async with opened(postgres_database) as store, session(postgres_database) as other:
        await add_channels(store, "a", "b")
        async with other.transaction():
            await other.execute("DELETE FROM channels WHERE id = 'b'")
            ingesting = asyncio.create_task(store.ingest([matched("e1", "a", "b")], NOW))
            await blocked_on_a_lock(other)
        assert await ingesting == [IngestResult(True, 2)]
        assert await store.pending_deliveries(["a", "b"]) == {"a": 1}


async def test_a_channels_concurrency_limit_holds_over_replicas(postgres_database: str) -> None:
    async with opened(postgres_database) as first, opened(postgres_database) as second:
        await add_channels(first, "a")
        await first.ingest([matched(f"e{n}", "a", ticket_id=n) for n in range(5)], NOW)
        # Each replica has room for four; the channel takes two at once, over both.
        rules = ClaimRules({"a": 4}, limits={"a": 2})
        taken = await claim_within(first, rules)
        assert event_ids(taken) == ["e0", "e1"]
        assert event_ids(await claim_within(second, rules)) == []
        await first.finish_attempts(
            [attempt(taken.deliveries[0], AttemptOutcome.DELIVERED)], DEFAULT_POLICY
        )
        assert event_ids(await claim_within(second, rules)) == ["e2"]


async def test_a_dead_replicas_leases_do_not_count_against_the_limit(
    postgres_database: str,
) -> None:
    async with opened(postgres_database) as first, opened(postgres_database) as second:
        await add_channels(first, "a")
        await first.ingest([matched(f"e{n}", "a", ticket_id=n) for n in range(3)], NOW)
        rules = ClaimRules({"a": 4}, limits={"a": 2})
        assert event_ids(await claim_within(first, rules)) == ["e0", "e1"]
        await end_lease_owners(postgres_database)
        assert event_ids(await claim_within(second, rules)) == ["e0", "e1"]


async def test_replicas_claiming_at_once_keep_within_the_limit(postgres_database: str) -> None:
    async with opened(postgres_database) as first, opened(postgres_database) as second:
        await add_channels(first, "a")
        await first.ingest([matched(f"e{n}", "a", ticket_id=n) for n in range(20)], NOW)
        rules = ClaimRules({"a": 10}, limits={"a": 3})
        for _ in range(10):
            taken = await asyncio.gather(*(claim_within(store, rules) for store in (first, second)))
            assert sum(len(claimed.deliveries) for claimed in taken) == 3
            for store, claimed in zip((first, second), taken, strict=True):
                await store.release_claims([d.delivery_id for d in claimed.deliveries])


async def test_a_channels_rate_limit_holds_over_replicas(postgres_database: str) -> None:
    async with opened(postgres_database) as first, opened(postgres_database) as second:
        await add_channels(first, "a")
        await first.ingest([matched(f"e{n}", "a", ticket_id=n) for n in range(6)], NOW)
        # Three a second over both replicas: what one takes, the other cannot.
        assert event_ids(await claim_within(first, ClaimRules({"a": 2}, rates={"a": 3}))) == [
            "e0",
            "e1",
        ]
        rules = ClaimRules({"a": 10}, rates={"a": 3})
        assert event_ids(await claim_within(second, rules)) == ["e2"]
        assert event_ids(await claim_within(first, rules)) == []
        assert event_ids(await claim_within(first, rules, NOW + timedelta(seconds=1))) == [
            "e3",
            "e4",
            "e5",
        ]


async def test_a_tickets_next_delivery_waits_for_the_first_on_any_replica(
    postgres_database: str,
) -> None:
    async with opened(postgres_database) as first, opened(postgres_database) as second:
        await first.insert_channel(make_channel("p", Ordering.PER_TICKET), "whsec_test", None)
        await first.ingest([matched("t1-1", "p"), matched("t1-2", "p")], NOW)
        rules = ClaimRules({"p": 10}, per_ticket=frozenset({"p"}))
        held = await claim_within(first, rules)
        assert event_ids(held) == ["t1-1"]
        assert event_ids(await claim_within(second, rules)) == []
        await first.finish_attempts(
            [attempt(held.deliveries[0], AttemptOutcome.DELIVERED)], DEFAULT_POLICY
        )
        assert event_ids(await claim_within(second, rules)) == ["t1-2"]


async def test_the_circuit_breaker_holds_over_replicas(postgres_database: str) -> None:
    breaker = BreakerPolicy(failure_threshold=3)
    async with opened(postgres_database) as first, opened(postgres_database) as second:
        await add_channels(first, "a")
        await first.ingest([matched(f"e{n}", "a", ticket_id=n) for n in range(6)], NOW)
        one, two = (await claim_within(first, ClaimRules({"a": 2}, breaker=breaker))).deliveries
        (three,) = (await claim_within(second, ClaimRules({"a": 1}, breaker=breaker))).deliveries
        # Failures recorded by each replica add up: the third opens the circuit.
        health = (await first.finish_attempts([failed(one, NOW), failed(two, NOW)], breaker)).health
        assert health["a"].state is CircuitState.CLOSED
        health = (await second.finish_attempts([failed(three, NOW)], breaker)).health
        assert health["a"].state is CircuitState.OPEN
        # Neither claims before the probe is due, and the other replica learns of it.
        rules = ClaimRules({"a": 10}, breaker=breaker)
        probe_at = NOW + breaker.probe_interval
        held = await claim_within(first, rules, probe_at - MICROSECOND)
        assert (held.deliveries, held.health["a"]) == ([], health["a"])
        assert (await claim_within(second, rules, probe_at - MICROSECOND)).deliveries == []
        # Once it is due, exactly one of them gets the probe.
        claims = await asyncio.gather(
            *(claim_within(store, rules, probe_at) for store in (first, second))
        )
        assert sorted(len(claimed.deliveries) for claimed in claims) == [0, 1]
        (probe,), prober, other = next(
            (claimed.deliveries, store, rest)
            for claimed, store, rest in zip(claims, (first, second), (second, first), strict=True)
            if claimed.deliveries
        )
        # Its success, recorded by the replica that sent it, closes the circuit for both.
        await prober.finish_attempts([attempt(probe, AttemptOutcome.DELIVERED, probe_at)], breaker)
        taken = await claim_within(other, rules, probe_at)
        assert (len(taken.deliveries), taken.health["a"].state) == (5, CircuitState.CLOSED)


async def test_a_store_keeps_to_its_pool_size(postgres_database: str) -> None:
    pool_size = 2
    async with (
        opened(postgres_database, pool_size) as store,
        session(postgres_database) as db,
    ):
        # Queries all at once: a pool that could grow would open a connection for each.
        await asyncio.gather(
            *(store.get_channel(EVERY_ACCOUNT, str(n)) for n in range(pool_size + 3))
        )
        connections = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    # The pool's, the one holding the store's claim owner lock, and the first of the claims'
    # and of the recordings' own.
    assert connections == pool_size + 3


async def stored_health_row(database: str, channel_id: str) -> tuple[int, int | None]:
    async with session(database) as db:
        row = await db.fetchrow(
            "SELECT consecutive_failures, last_success_time FROM channels WHERE id = $1",
            channel_id,
        )
    assert row is not None
    return row["consecutive_failures"], row["last_success_time"]


async def test_successes_of_a_healthy_channel_leave_its_row_alone_for_a_minute(
    postgres_database: str,
) -> None:
    """A claim locks the channel's row: a recording that writes it makes the next claim wait,
    so the common case, a success of a healthy channel, writes it once a minute at most."""
    async with opened(postgres_database) as store:
        await add_channels(store, "a")
        await store.ingest([matched(f"e{n}", "a", ticket_id=n) for n in range(5)], NOW)
        deliveries = (await claim_within(store, ClaimRules({"a": 5}))).deliveries
        first, second, third, fourth, fifth = deliveries
        await store.finish_attempts([attempt(first, AttemptOutcome.DELIVERED, NOW)], DEFAULT_POLICY)
        assert await stored_health_row(postgres_database, "a") == (0, to_micros(NOW))
        # Within the minute: the row keeps the earlier success; what the store answers does not.
        later = NOW + timedelta(seconds=59)
        finished = await store.finish_attempts(
            [attempt(second, AttemptOutcome.DELIVERED, later)], DEFAULT_POLICY
        )
        assert finished.health["a"].last_success_time == later
        assert await stored_health_row(postgres_database, "a") == (0, to_micros(NOW))
        # A minute on, it is written again.
        minute_on = NOW + timedelta(seconds=60)
        await store.finish_attempts(
            [attempt(third, AttemptOutcome.DELIVERED, minute_on)], DEFAULT_POLICY
        )
        assert await stored_health_row(postgres_database, "a") == (0, to_micros(minute_on))
        # A failure is always written, and so is the success after it.
        await store.finish_attempts([failed(fourth, minute_on)], DEFAULT_POLICY)
        assert await stored_health_row(postgres_database, "a") == (1, to_micros(minute_on))
        back = minute_on + timedelta(seconds=1)
        await store.finish_attempts(
            [attempt(fifth, AttemptOutcome.DELIVERED, back)], DEFAULT_POLICY
        )
        assert await stored_health_row(postgres_database, "a") == (0, to_micros(back))


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def rows_touched(plan: dict[str, Any]) -> int:
    """The most rows any one node of an executed plan read: those it returned over all its
    loops, and those its filter removed."""
    return max(
        int(node.get("Actual Rows", 0) * node.get("Actual Loops", 1))
        + int(node.get("Rows Removed by Filter", 0))
        for node in plan_nodes(plan)
    )


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
async def test_a_claim_reads_a_few_rows_however_long_the_backlog_statistics_or_not(
    postgres_database: str, plan_cache_mode: str
) -> None:
    """A table filled faster than autovacuum analyzes it (the first backlog) has no statistics;
    a plan made then and reused must still walk the indexes, not every pending delivery."""
    backlog = 3000
    async with opened(postgres_database) as store:
        await add_channels(store, "a")
        for start in range(0, backlog, 500):
            events = [matched(f"e{n}", "a", ticket_id=n) for n in range(start, start + 500)]
            await store.ingest(events, NOW)
    now, until = to_micros(NOW), to_micros(NOW + timedelta(minutes=1))
    statements: list[tuple[str, list[object]]] = [
        (LOCK_CHANNELS, [["a"], now]),
        (CLAIM, [["a"], [20], [10], now, [], 20, 1, until]),
        (NEXT_DUE, [["a"], now]),
    ]
    async with session(postgres_database) as db:
        assert await db.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'deliveries'") < 0
        await db.execute(f"SET plan_cache_mode = {plan_cache_mode}")
        for sql, arguments in statements:
            # Rolled back: the claim's leases go with it.
            transaction = db.transaction()
            await transaction.start()
            try:
                explained = await db.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *arguments)
            finally:
                await transaction.rollback()
            (plan,) = json.loads(explained)
            assert rows_touched(plan["Plan"]) <= 40, sql
