"""The access token use cases over an in-memory store (docs/design.md §10): minting checks its
input and answers the console link; a check reads keys and revocations at most every half
second, one read for calls that arrive together; a revocation is seen at once where it was
made and within that half second elsewhere; keys rotate and retire as the clock moves."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from deskhook.core.access_tokens import CACHE_SECONDS, AccessTokens
from deskhook.domain.access_tokens import (
    MAX_TTL,
    PUBLISH_DELAY,
    RETIRE_MARGIN,
    ROTATE_AFTER,
    AccessTokenKey,
    TokenRefused,
)
from deskhook.domain.accounts import Scope
from deskhook.domain.errors import FieldViolation, InvalidArgument
from deskhook.store.memory.store import MemoryStore
from tests.support.access_tokens import counting_bytes, token_parts
from tests.support.clock import FakeClock

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Stopwatch:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


class CountingStore(MemoryStore):
    """The in-memory store, counting the reads a check makes."""

    def __init__(self) -> None:
        super().__init__()
        self.key_reads = 0

    async def access_token_keys(self) -> list[AccessTokenKey]:
        self.key_reads += 1
        # A read takes a turn of the loop, as a database's does.
        await asyncio.sleep(0)
        return await super().access_token_keys()


def replica(
    store: MemoryStore, clock: FakeClock, stopwatch: Stopwatch, console_url: str = ""
) -> AccessTokens:
    return AccessTokens(
        store,
        now=clock,
        random_bytes=counting_bytes(),
        console_url=console_url,
        monotonic=stopwatch,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def refusal(tokens: AccessTokens, token: str) -> str:
    with pytest.raises(TokenRefused) as refused:
        await tokens.scope(token)
    return refused.value.reason


async def test_a_token_is_minted_for_an_hour_unless_told_and_grants_its_scope(
    clock: FakeClock,
) -> None:
    tokens = replica(MemoryStore(), clock, Stopwatch())
    await tokens.start()
    created = await tokens.create("acme", True, None)
    assert created.minted.expire_time == START + timedelta(hours=1)
    assert created.console_url == ""
    assert await tokens.scope(created.minted.token) == Scope("acme", True)
    week = await tokens.create("", False, timedelta(days=7))
    assert week.minted.expire_time == START + timedelta(days=7)
    assert await tokens.scope(week.minted.token) == Scope("", False)


async def test_bad_input_names_each_field(clock: FakeClock) -> None:
    tokens = replica(MemoryStore(), clock, Stopwatch())
    await tokens.start()
    with pytest.raises(InvalidArgument) as invalid:
        await tokens.create("no spaces allowed", False, timedelta(0))
    assert [violation.field for violation in invalid.value.violations] == ["account_id", "ttl"]
    with pytest.raises(InvalidArgument) as invalid:
        await tokens.create("acme", False, timedelta(days=8))
    assert invalid.value.violations == (FieldViolation("ttl", "must be from 1 second to 7 days"),)
    with pytest.raises(InvalidArgument) as invalid:
        await tokens.revoke("a" * 65)
    assert [violation.field for violation in invalid.value.violations] == ["account_id"]


async def test_a_minted_token_comes_with_its_console_link(clock: FakeClock) -> None:
    tokens = replica(MemoryStore(), clock, Stopwatch(), "https://console.example.com")
    await tokens.start()
    created = await tokens.create("acme", False, None)
    assert created.console_url == f"https://console.example.com/#token={created.minted.token}"


async def test_replicas_starting_on_one_store_share_its_first_key(clock: FakeClock) -> None:
    store = MemoryStore()
    first, second = replica(store, clock, Stopwatch()), replica(store, clock, Stopwatch())
    await asyncio.gather(first.start(), second.start())
    assert len(await store.access_token_keys()) == 1
    token = (await first.create("acme", False, None)).minted.token
    assert await second.scope(token) == Scope("acme", False)


async def test_checks_read_the_store_at_most_every_half_second(clock: FakeClock) -> None:
    store = CountingStore()
    stopwatch = Stopwatch()
    tokens = replica(store, clock, stopwatch)
    await tokens.start()
    token = (await tokens.create("acme", False, None)).minted.token
    reads = store.key_reads
    # Calls arriving together while nothing is cached wait for one read.
    await asyncio.gather(*(tokens.scope(token) for _ in range(20)))
    assert store.key_reads == reads + 1
    stopwatch.seconds += CACHE_SECONDS - 0.001
    await tokens.scope(token)
    assert store.key_reads == reads + 1
    stopwatch.seconds += 0.001
    await asyncio.gather(*(tokens.scope(token) for _ in range(20)))
    assert store.key_reads == reads + 2


async def test_a_revocation_is_seen_at_once_here_and_within_half_a_second_elsewhere(
    clock: FakeClock,
) -> None:
    store = MemoryStore()
    here_watch, there_watch = Stopwatch(), Stopwatch()
    here, there = replica(store, clock, here_watch), replica(store, clock, there_watch)
    await here.start()
    token = (await here.create("acme", False, None)).minted.token
    other = (await here.create("other", False, None)).minted.token
    assert await here.scope(token) == await there.scope(token) == Scope("acme", False)

    clock.advance(timedelta(microseconds=1))
    assert await here.revoke("acme") == clock()
    assert await refusal(here, token) == "TOKEN_REVOKED"
    # The other replica read before the revocation, and keeps what it read for half a second.
    there_watch.seconds += CACHE_SECONDS - 0.001
    assert await there.scope(token) == Scope("acme", False)
    there_watch.seconds += 0.001
    assert await refusal(there, token) == "TOKEN_REVOKED"
    # Another account's tokens, and the account's tokens minted since, are untouched.
    assert await there.scope(other) == Scope("other", False)
    again = (await here.create("acme", False, None)).minted.token
    assert await here.scope(again) == await there.scope(again) == Scope("acme", False)


async def test_a_token_expires_by_the_clock(clock: FakeClock) -> None:
    tokens = replica(MemoryStore(), clock, Stopwatch())
    await tokens.start()
    token = (await tokens.create("acme", False, timedelta(seconds=1))).minted.token
    clock.advance(timedelta(seconds=1))
    assert await refusal(tokens, token) == "TOKEN_EXPIRED"


async def test_keys_rotate_weekly_and_retire_once_their_tokens_have_expired(
    clock: FakeClock,
) -> None:
    store = MemoryStore()
    stopwatch = Stopwatch()
    tokens = replica(store, clock, stopwatch)
    await tokens.start()
    (first,) = await store.access_token_keys()

    def signed_by(token: str) -> str:
        header, _, _ = token_parts(token)
        key_id: str = header["kid"]
        return key_id

    clock.advance(ROTATE_AFTER - timedelta(seconds=1))
    week_old = (await tokens.create("acme", False, MAX_TTL)).minted.token
    assert signed_by(week_old) == first.id
    assert len(await store.access_token_keys()) == 1

    # Due now: the next mint makes a key, but signs with the old one until every replica can
    # have read the new one.
    clock.advance(timedelta(seconds=1))
    rotated = (await tokens.create("acme", False, MAX_TTL)).minted.token
    second, _ = await store.access_token_keys()
    assert second.create_time == clock()
    assert signed_by(rotated) == first.id
    clock.advance(PUBLISH_DELAY)
    newer = (await tokens.create("acme", False, MAX_TTL)).minted.token
    assert signed_by(newer) == second.id
    stopwatch.seconds += CACHE_SECONDS
    for token in (week_old, rotated, newer):
        assert await tokens.scope(token) == Scope("acme", False)

    # The old key goes once the last token it signed has expired, and a margin after (the
    # mints here also make the third key: the second has signed for a week).
    clock.advance(MAX_TTL + RETIRE_MARGIN - timedelta(seconds=1))
    await tokens.create("acme", False, None)
    kept = [key.id for key in await store.access_token_keys()]
    assert kept[1:] == [second.id, first.id]
    clock.advance(timedelta(seconds=1))
    await tokens.create("acme", False, None)
    assert [key.id for key in await store.access_token_keys()] == kept[:2]
    stopwatch.seconds += CACHE_SECONDS
    assert await refusal(tokens, rotated) == "TOKEN_INVALID"
