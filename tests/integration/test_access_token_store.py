"""The Store contract for account tokens (docs/design.md §10), on every store (in memory,
SQLite, PostgreSQL): token keys, added one at a time however many replicas try at once and kept
over a restart (the database stores), and each account's revocation time, to the
microsecond."""

import asyncio
from datetime import timedelta

from deskhook.domain.access_tokens import AccessTokenKey
from deskhook.store.base import Store
from tests.support.store_items import MICROSECOND, NOW, opened

DAY = timedelta(days=1)
# Every byte value, NUL included: a secret is bytes, not text.
SECRET = bytes(range(256))[:32]
OTHER_SECRET = bytes(range(255, -1, -1))[:32]


def key(name: str, age: timedelta = timedelta(0), secret: bytes = SECRET) -> AccessTokenKey:
    return AccessTokenKey(name, secret, NOW - age)


async def test_keys_are_added_unless_a_newer_one_exists_and_deleted(empty_store: Store) -> None:
    store = empty_store
    assert await store.access_token_keys() == []
    old = key("atk_old", 10 * DAY)
    assert await store.add_access_token_key(old, NOW - 7 * DAY)
    assert await store.access_token_keys() == [old]

    # A key made after the time given exists: nothing is added.
    refused = key("atk_refused")
    assert not await store.add_access_token_key(refused, old.create_time - MICROSECOND)
    # Made at that very time, it does not count as after it.
    new = key("atk_new", secret=OTHER_SECRET)
    assert await store.add_access_token_key(new, old.create_time)
    assert await store.access_token_keys() == [new, old]

    await store.delete_access_token_keys(["atk_old", "atk_never_was"])
    assert await store.access_token_keys() == [new]
    await store.delete_access_token_keys([])
    assert await store.access_token_keys() == [new]


async def test_keys_are_listed_newest_first(empty_store: Store) -> None:
    store = empty_store
    made = [key(f"atk_{age}", age * DAY) for age in (3, 1, 2)]
    for each in made:
        assert await store.add_access_token_key(each, NOW)
    assert [each.id for each in await store.access_token_keys()] == ["atk_1", "atk_2", "atk_3"]


async def test_replicas_adding_keys_at_once_add_one(database: str) -> None:
    async with opened(database) as first, opened(database) as second:
        candidates = [key(f"atk_{n}") for n in range(6)]
        added = await asyncio.gather(
            *(
                (first, second)[n % 2].add_access_token_key(candidate, NOW - 7 * DAY)
                for n, candidate in enumerate(candidates)
            )
        )
        assert sorted(added) == [False] * 5 + [True]
        (winner,) = [c for c, won in zip(candidates, added, strict=True) if won]
        assert await first.access_token_keys() == [winner]
        assert await second.access_token_keys() == [winner]


async def test_keys_and_revocations_outlive_the_store(database: str) -> None:
    async with opened(database) as store:
        await store.add_access_token_key(key("atk_kept"), NOW - 7 * DAY)
        await store.revoke_access_tokens("acme", NOW, NOW - 8 * DAY)
    async with opened(database) as reopened:
        assert await reopened.access_token_keys() == [key("atk_kept")]
        assert await reopened.access_token_revocations() == {"acme": NOW}


async def test_a_revocation_is_kept_per_account_to_the_microsecond(empty_store: Store) -> None:
    store = empty_store
    forget_before = NOW - 8 * DAY
    assert await store.access_token_revocations() == {}
    at = NOW + MICROSECOND
    assert await store.revoke_access_tokens("acme", at, forget_before) == at
    assert await store.revoke_access_tokens("", NOW, forget_before) == NOW
    assert await store.access_token_revocations() == {"acme": at, "": NOW}

    # An earlier time (another replica's clock behind) leaves the later one standing.
    assert await store.revoke_access_tokens("acme", NOW, forget_before) == at
    later = NOW + DAY
    assert await store.revoke_access_tokens("acme", later, forget_before) == later
    assert await store.access_token_revocations() == {"acme": later, "": NOW}


async def test_revocations_no_token_can_need_are_dropped(empty_store: Store) -> None:
    store = empty_store
    await store.revoke_access_tokens("old", NOW - 9 * DAY, NOW - 20 * DAY)
    await store.revoke_access_tokens("recent", NOW - DAY, NOW - 20 * DAY)
    await store.revoke_access_tokens("acme", NOW, NOW - 8 * DAY)
    assert await store.access_token_revocations() == {"recent": NOW - DAY, "acme": NOW}
    # The account revoked now keeps its newest revocation, however old its last one was.
    await store.revoke_access_tokens("recent", NOW, NOW - timedelta(hours=1))
    assert await store.access_token_revocations() == {"recent": NOW, "acme": NOW}
