"""Accounts in the Store contract, on every store (in memory, SQLite, PostgreSQL): event ids and
create request ids are unique per account, deliveries and log entries carry their account, and
every query a request reaches sees only what its scope reaches (docs/design.md §10)."""

from dataclasses import replace
from datetime import timedelta

import pytest

from deskhook.domain.accounts import EVERY_ACCOUNT, NOWHERE, Scope
from deskhook.domain.breaker import DEFAULT_POLICY
from deskhook.domain.channel_spec import Channel, ConnectionState, ConnectionStatus
from deskhook.domain.delivery import AttemptOutcome
from deskhook.domain.signing import SigningSecret
from deskhook.store.base import (
    ChannelFilter,
    CreatedChannel,
    CreateRequest,
    DuplicateCreateRequest,
    LogFilter,
    Store,
)
from tests.support.store_items import NOW, add_channels, attempt, claim, make_channel, matched

HOUR = timedelta(hours=1)
A, B = Scope("a"), Scope("b")
DEFAULT = Scope("")


async def test_one_event_id_in_two_accounts_is_two_events(empty_store: Store) -> None:
    store = empty_store
    await add_channels(store, "a1", "a2", account_id="a")
    await add_channels(store, "b1", account_id="b")
    first = await store.ingest(
        [
            matched("e1", "a1", "a2", account_id="a"),
            matched("e1", "b1", account_id="b"),
            matched("e1", account_id=""),
        ],
        NOW,
    )
    assert [tuple(result) for result in first] == [(True, 2), (True, 1), (True, 0)]
    # Again, each is a duplicate in its own account, answered with its own first count.
    again = await store.ingest(
        [
            matched("e1", "b1", account_id="b"),
            matched("e1", account_id=""),
            matched("e1", "a1", "a2", account_id="a"),
            matched("e1", account_id="c"),
        ],
        NOW + HOUR,
    )
    assert [tuple(result) for result in again] == [(False, 1), (False, 0), (False, 2), (True, 0)]
    # Each account's event went to its own channels, once.
    due = await claim(store, ["a1", "a2", "b1"], NOW + HOUR)
    assert sorted((d.channel_id, d.event_id, d.account_id) for d in due) == [
        ("a1", "e1", "a"),
        ("a2", "e1", "a"),
        ("b1", "e1", "b"),
    ]


async def test_within_one_batch_an_event_id_repeats_only_within_its_account(
    empty_store: Store,
) -> None:
    store = empty_store
    await add_channels(store, "a1", account_id="a")
    await add_channels(store, "b1", "b2", account_id="b")
    results = await store.ingest(
        [
            matched("twin", "a1", account_id="a"),
            matched("twin", "b1", "b2", account_id="b"),
            matched("twin", "a1", account_id="a"),
            matched("twin", account_id=""),
            matched("twin", "b1", "b2", account_id="b"),
            matched("twin", account_id=""),
        ],
        NOW,
    )
    assert [tuple(result) for result in results] == [
        (True, 1),
        (True, 2),
        (False, 1),
        (True, 0),
        (False, 2),
        (False, 0),
    ]
    assert await store.pending_deliveries(["a1", "b1", "b2"]) == {"a1": 1, "b1": 1, "b2": 1}


async def test_claimed_deliveries_and_their_log_entries_carry_their_account(
    empty_store: Store,
) -> None:
    store = empty_store
    await add_channels(store, "a1", account_id="a")
    await add_channels(store, "b1", account_id="b")
    await add_channels(store, "d1")
    await store.ingest(
        [
            matched("e1", "a1", account_id="a"),
            matched("e1", "b1", account_id="b"),
            matched("e1", "d1"),
        ],
        NOW,
    )
    due = await claim(store, ["a1", "b1", "d1"])
    assert {d.channel_id: d.account_id for d in due} == {"a1": "a", "b1": "b", "d1": ""}
    finished = await store.finish_attempts(
        [attempt(d, AttemptOutcome.DELIVERED) for d in due], DEFAULT_POLICY
    )
    assert {r.channel_id: r.account_id for r in finished.attempts} == {
        "a1": "a",
        "b1": "b",
        "d1": "",
    }
    logged = await store.list_attempts(EVERY_ACCOUNT, LogFilter(), None, 10)
    assert {r.channel_id: r.account_id for r in logged} == {"a1": "a", "b1": "b", "d1": ""}
    assert sorted(logged, key=lambda r: r.id) == finished.attempts


async def two_accounts(store: Store) -> tuple[Channel, Channel]:
    """A channel in account "a" and one in "b", alike but for their account, each with an event
    "e1" delivered and an event "e2" given up, logged."""
    channel_a, channel_b = make_channel("ca", account_id="a"), make_channel("cb", account_id="b")
    await store.insert_channel(channel_a, "whsec_a", None)
    await store.insert_channel(channel_b, "whsec_b", None)
    await store.ingest(
        [
            matched("e1", "ca", ticket_id=1, account_id="a"),
            matched("e1", "cb", ticket_id=1, account_id="b"),
            matched("e2", "ca", ticket_id=2, account_id="a"),
            matched("e2", "cb", ticket_id=2, account_id="b"),
        ],
        NOW,
    )
    a1, b1, a2, b2 = sorted(await claim(store, ["ca", "cb"]), key=lambda d: d.delivery_id)
    await store.finish_attempts(
        [
            attempt(a1, AttemptOutcome.DELIVERED),
            attempt(b1, AttemptOutcome.DELIVERED),
            attempt(a2, AttemptOutcome.GIVEN_UP),
            attempt(b2, AttemptOutcome.GIVEN_UP),
        ],
        DEFAULT_POLICY,
    )
    return channel_a, channel_b


async def listed_ids(store: Store, scope: Scope, channel_filter: ChannelFilter) -> list[str]:
    return [channel.id for _, channel in await store.list_channels(scope, channel_filter, 0, 100)]


async def logged(store: Store, scope: Scope, log_filter: LogFilter) -> list[tuple[str, str]]:
    entries = await store.list_attempts(scope, log_filter, None, 100)
    return sorted((entry.channel_id, entry.event_id) for entry in entries)


async def test_an_account_scope_reads_only_its_own_rows(empty_store: Store) -> None:
    store = empty_store
    channel_a, channel_b = await two_accounts(store)
    assert await store.get_channel(A, "ca") == channel_a
    assert await store.get_channel(A, "cb") is None
    assert await store.get_channel(B, "cb") == channel_b
    assert await store.get_channel(DEFAULT, "ca") is None
    assert await store.list_all_channels(A) == [channel_a]
    assert await store.list_all_channels(B) == [channel_b]
    assert await store.list_all_channels(DEFAULT) == []
    assert await store.list_all_channels(EVERY_ACCOUNT) == [channel_a, channel_b]
    # Every filter, and pages, stay within the scope.
    for channel_filter in (ChannelFilter(), ChannelFilter(department_id=7, enabled=True)):
        assert await listed_ids(store, A, channel_filter) == ["ca"]
        assert await listed_ids(store, B, channel_filter) == ["cb"]
        assert await listed_ids(store, EVERY_ACCOUNT, channel_filter) == ["ca", "cb"]
    ((position, _),) = await store.list_channels(A, ChannelFilter(), 0, 1)
    assert await store.list_channels(A, ChannelFilter(), position, 10) == []
    assert await store.signing_secrets(A, "ca") == [SigningSecret("whsec_a", None)]
    assert await store.signing_secrets(A, "cb") == []

    assert await logged(store, A, LogFilter()) == [("ca", "e1"), ("ca", "e2")]
    assert await logged(store, B, LogFilter(event_id="e1")) == [("cb", "e1")]
    assert await logged(store, A, LogFilter(channel_id="cb")) == []
    assert await logged(store, DEFAULT, LogFilter()) == []
    assert len(await logged(store, EVERY_ACCOUNT, LogFilter(event_id="e2"))) == 2


async def test_an_account_scope_cannot_change_another_accounts_channel(
    empty_store: Store,
) -> None:
    store = empty_store
    channel_a, channel_b = await two_accounts(store)
    renamed = replace(channel_b, spec=replace(channel_b.spec, name="taken over"))
    status = ConnectionStatus(ConnectionState.FAILED, "nope", 500, NOW)
    later = NOW + HOUR
    assert not await store.update_channel(A, renamed)
    assert not await store.set_connection_status(A, "cb", status)
    assert not await store.rotate_secret(A, "cb", "whsec_stolen", later, later)
    assert await store.redeliver(A, "cb", "e1", None, later) == 0
    assert await store.redeliver(A, "cb", None, NOW, later) == 0
    assert not await store.delete_channel(A, "cb")
    assert not await store.delete_channel(DEFAULT, "cb")
    # Nothing of "b" changed: its channel, secret and finished deliveries are as they were.
    assert await store.get_channel(B, "cb") == channel_b
    assert await store.signing_secrets(B, "cb") == [SigningSecret("whsec_b", None)]
    assert await store.pending_deliveries(["cb"]) == {}

    # Its own, it changes.
    assert await store.update_channel(A, replace(channel_a, spec=renamed.spec))
    assert await store.set_connection_status(A, "ca", status)
    assert await store.rotate_secret(A, "ca", "whsec_a2", later, later + HOUR)
    assert await store.redeliver(A, "ca", "e1", None, later) == 1
    assert await store.redeliver(A, "ca", None, NOW, later) == 1
    assert await store.pending_deliveries(["ca", "cb"]) == {"ca": 2}
    changed = await store.get_channel(A, "ca")
    assert changed is not None
    assert (changed.spec.name, changed.connection) == ("taken over", status)
    assert await store.delete_channel(A, "ca")
    assert await store.list_all_channels(EVERY_ACCOUNT) == [channel_b]


async def test_a_channels_account_never_changes_on_update(empty_store: Store) -> None:
    store = empty_store
    channel_a, _ = await two_accounts(store)
    moved = replace(channel_a, account_id="b", update_time=NOW + HOUR)
    assert await store.update_channel(EVERY_ACCOUNT, moved)
    assert await store.get_channel(EVERY_ACCOUNT, "ca") == replace(moved, account_id="a")
    assert await store.get_channel(B, "ca") is None
    assert await store.count_channels("b") == 1


async def test_nowhere_reaches_nothing(empty_store: Store) -> None:
    store = empty_store
    channel_a, _ = await two_accounts(store)
    await add_channels(store, "cd")
    for channel_id in ("ca", "cb", "cd"):
        assert await store.get_channel(NOWHERE, channel_id) is None
        assert await store.signing_secrets(NOWHERE, channel_id) == []
        assert not await store.set_connection_status(NOWHERE, channel_id, ConnectionStatus())
        assert not await store.rotate_secret(NOWHERE, channel_id, "whsec_x", NOW, NOW)
        assert await store.redeliver(NOWHERE, channel_id, "e1", None, NOW) == 0
        assert not await store.delete_channel(NOWHERE, channel_id)
    assert not await store.update_channel(NOWHERE, channel_a)
    assert await store.list_channels(NOWHERE, ChannelFilter(), 0, 100) == []
    assert await store.list_all_channels(NOWHERE) == []
    assert await store.list_attempts(NOWHERE, LogFilter(), None, 100) == []
    assert len(await store.list_all_channels(EVERY_ACCOUNT)) == 3


async def test_a_create_request_id_is_unique_per_account(empty_store: Store) -> None:
    store = empty_store
    request = CreateRequest("req-1", "hash-1")
    await store.insert_channel(make_channel("ca", account_id="a"), "whsec_a", request)
    # The same request id in another account, the default one included, creates another.
    await store.insert_channel(make_channel("cb", account_id="b"), "whsec_b", request)
    await store.insert_channel(make_channel("cd"), "whsec_d", request)
    assert await store.find_created_channel("a", "req-1") == CreatedChannel(
        make_channel("ca", account_id="a"), "hash-1", "whsec_a"
    )
    assert await store.find_created_channel("b", "req-1") == CreatedChannel(
        make_channel("cb", account_id="b"), "hash-1", "whsec_b"
    )
    assert await store.find_created_channel("", "req-1") == CreatedChannel(
        make_channel("cd"), "hash-1", "whsec_d"
    )
    assert await store.find_created_channel("c", "req-1") is None
    # Within one account, it is taken.
    with pytest.raises(DuplicateCreateRequest):
        await store.insert_channel(make_channel("ca2", account_id="a"), "whsec_x", request)
    assert await store.get_channel(EVERY_ACCOUNT, "ca2") is None
    # Deleting one account's channel frees the id in that account only.
    assert await store.delete_channel(EVERY_ACCOUNT, "ca")
    assert await store.find_created_channel("a", "req-1") is None
    assert await store.find_created_channel("b", "req-1") is not None
    await store.insert_channel(make_channel("ca3", account_id="a"), "whsec_a3", request)
    found = await store.find_created_channel("a", "req-1")
    assert found is not None
    assert found.channel.id == "ca3"


async def test_channels_are_counted_per_account(empty_store: Store) -> None:
    store = empty_store
    assert await store.count_channels("a") == 0
    await add_channels(store, "a1", "a2", "a3", account_id="a")
    await add_channels(store, "b1", account_id="b")
    await add_channels(store, "d1", "d2")
    counts = [await store.count_channels(account) for account in ("a", "b", "", "c")]
    assert counts == [3, 1, 2, 0]
    await store.delete_channel(EVERY_ACCOUNT, "a2")
    assert await store.count_channels("a") == 2


async def test_accounts_are_listed_by_id_in_byte_order_with_their_channel_counts(
    empty_store: Store,
) -> None:
    store = empty_store
    # Upper case sorts before lower case byte by byte, whatever a database's locale says.
    for account_id, count in [("b", 2), ("", 1), ("B", 1), ("a.1", 3), ("a-1", 1)]:
        ids = [f"{account_id or 'default'}-{n}" for n in range(count)]
        await add_channels(store, *ids, account_id=account_id)
    everything = [("", 1), ("B", 1), ("a-1", 1), ("a.1", 3), ("b", 2)]
    assert await store.list_accounts(EVERY_ACCOUNT, None, 10) == everything
    assert await store.list_accounts(EVERY_ACCOUNT, None, 2) == everything[:2]
    assert await store.list_accounts(EVERY_ACCOUNT, "B", 2) == everything[2:4]
    assert await store.list_accounts(EVERY_ACCOUNT, "b", 2) == []
    # A scope sees its own account only.
    assert await store.list_accounts(Scope("a.1"), None, 10) == [("a.1", 3)]
    assert await store.list_accounts(NOWHERE, None, 10) == []
    # An account is gone with its last channel.
    await store.delete_channel(EVERY_ACCOUNT, "B-0")
    assert ("B", 1) not in await store.list_accounts(EVERY_ACCOUNT, None, 10)
