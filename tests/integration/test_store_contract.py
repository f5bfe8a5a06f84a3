"""The rest of the Store contract, on every store (in memory, SQLite, PostgreSQL): channels and
their create request ids, secret rotation, channel listing, the webhook log's filters, retention,
redelivery and when the next delivery falls due."""

from dataclasses import replace
from datetime import timedelta

import pytest

from deskhook.domain.accounts import EVERY_ACCOUNT
from deskhook.domain.breaker import DEFAULT_POLICY, BreakerPolicy, CircuitState
from deskhook.domain.channel_spec import ConnectionState, ConnectionStatus, Ordering
from deskhook.domain.delivery import AttemptOutcome
from deskhook.domain.events import EventType, MatchedEvent
from deskhook.domain.responses import FailureReason
from deskhook.domain.signing import SigningSecret
from deskhook.domain.times import to_micros
from deskhook.store.base import (
    ChannelFilter,
    ClaimRules,
    CreatedChannel,
    CreateRequest,
    DuplicateCreateRequest,
    LogFilter,
    Store,
)
from tests.support.store_items import (
    NOW,
    add_channels,
    attempt,
    claim,
    claim_within,
    failed,
    make_channel,
    matched,
)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


async def log_ids(store: Store, log_filter: LogFilter) -> list[str]:
    """The event ids of the whole log matching `log_filter`, read newest first two at a time."""
    ids: list[str] = []
    before: tuple[int, int] | None = None
    while page := await store.list_attempts(EVERY_ACCOUNT, log_filter, before, 2):
        ids += [record.event_id for record in page]
        before = (to_micros(page[-1].attempted_at), page[-1].id)
    return ids


async def test_a_channel_is_saved_read_changed_and_deleted(empty_store: Store) -> None:
    store = empty_store
    created = make_channel("a", Ordering.PER_TICKET)
    spec = replace(
        created.spec,
        subscriptions=(EventType.TICKET_CREATE, EventType.TICKET_RATING),
        retries_enabled=True,
        retry_schedule=(timedelta(seconds=5), HOUR),
        max_concurrency=3,
        rate_limit_per_second=20,
    )
    channel = replace(created, spec=spec)
    await store.insert_channel(channel, "whsec_first", None)
    assert await store.get_channel(EVERY_ACCOUNT, "a") == channel
    assert await store.get_channel(EVERY_ACCOUNT, "missing") is None

    changed = replace(channel, spec=replace(spec, name="renamed"), update_time=NOW + MINUTE)
    assert await store.update_channel(EVERY_ACCOUNT, changed)
    status = ConnectionStatus(
        ConnectionState.FAILED, "HTTP 500", 500, NOW + HOUR, FailureReason.HTTP_STATUS
    )
    assert await store.set_connection_status(EVERY_ACCOUNT, "a", status)
    assert await store.get_channel(EVERY_ACCOUNT, "a") == replace(changed, connection=status)
    assert await store.disable_channel("a", "failing for days", NOW + HOUR)
    # Disabled already: not again, and the first reason stands.
    assert not await store.disable_channel("a", "410 Gone", NOW + 2 * HOUR)
    assert not await store.disable_channel("missing", "410 Gone", NOW)
    disabled = await store.get_channel(EVERY_ACCOUNT, "a")
    assert disabled == replace(
        changed,
        spec=replace(changed.spec, enabled=False),
        connection=status,
        disabled_reason="failing for days",
        update_time=NOW + HOUR,
    )
    assert await store.list_all_channels(EVERY_ACCOUNT) == [disabled]

    assert await store.delete_channel(EVERY_ACCOUNT, "a")
    assert await store.get_channel(EVERY_ACCOUNT, "a") is None
    assert await store.signing_secrets(EVERY_ACCOUNT, "a") == []
    assert await store.list_all_channels(EVERY_ACCOUNT) == []
    # Gone, it can be neither changed nor deleted again.
    assert not await store.update_channel(EVERY_ACCOUNT, changed)
    assert not await store.set_connection_status(EVERY_ACCOUNT, "a", status)
    assert not await store.rotate_secret(EVERY_ACCOUNT, "a", "whsec_new", NOW, NOW + HOUR)
    assert not await store.delete_channel(EVERY_ACCOUNT, "a")


async def test_a_request_id_finds_the_channel_it_created_and_no_other(empty_store: Store) -> None:
    store = empty_store
    request = CreateRequest("req-1", "hash-1")
    await store.insert_channel(make_channel("a"), "whsec_first", request)
    await store.rotate_secret(EVERY_ACCOUNT, "a", "whsec_second", NOW, NOW + HOUR)
    # The secret it was created with, which a retried CreateChannel answers with again.
    expected = CreatedChannel(make_channel("a"), "hash-1", "whsec_first")
    assert await store.find_created_channel("", "req-1") == expected
    assert await store.find_created_channel("", "req-2") is None

    # A second channel under the same id, whatever its request, is refused and not saved.
    for taken in (request, CreateRequest("req-1", "hash-of-another-spec")):
        with pytest.raises(DuplicateCreateRequest):
            await store.insert_channel(make_channel("b"), "whsec_other", taken)
    assert await store.get_channel(EVERY_ACCOUNT, "b") is None
    assert await store.find_created_channel("", "req-1") == expected

    # Without a request id, or with another, channels are saved side by side.
    await store.insert_channel(make_channel("b"), "whsec_b", None)
    await store.insert_channel(make_channel("c"), "whsec_c", CreateRequest("req-2", "hash-2"))
    assert await store.find_created_channel("", "req-2") == CreatedChannel(
        make_channel("c"), "hash-2", "whsec_c"
    )
    # Deleting the channel frees its request id.
    await store.delete_channel(EVERY_ACCOUNT, "a")
    assert await store.find_created_channel("", "req-1") is None
    await store.insert_channel(make_channel("d"), "whsec_d", request)
    assert (await store.find_created_channel("", "req-1")) == CreatedChannel(
        make_channel("d"), "hash-1", "whsec_d"
    )


async def test_a_rotated_secret_signs_until_its_expiry_then_goes(empty_store: Store) -> None:
    store = empty_store
    await store.insert_channel(make_channel("a"), "whsec_1", None)
    assert await store.signing_secrets(EVERY_ACCOUNT, "a") == [SigningSecret("whsec_1", None)]
    assert await store.rotate_secret(EVERY_ACCOUNT, "a", "whsec_2", NOW, NOW + HOUR)
    assert await store.signing_secrets(EVERY_ACCOUNT, "a") == [
        SigningSecret("whsec_2", None),
        SigningSecret("whsec_1", NOW + HOUR),
    ]
    # A secret in its grace period keeps its own expiry through the next rotation.
    assert await store.rotate_secret(EVERY_ACCOUNT, "a", "whsec_3", NOW + MINUTE, NOW + 2 * HOUR)
    assert await store.signing_secrets(EVERY_ACCOUNT, "a") == [
        SigningSecret("whsec_3", None),
        SigningSecret("whsec_2", NOW + 2 * HOUR),
        SigningSecret("whsec_1", NOW + HOUR),
    ]
    # Past its expiry (at it, too), the next rotation drops it.
    assert await store.rotate_secret(EVERY_ACCOUNT, "a", "whsec_4", NOW + HOUR, NOW + 3 * HOUR)
    assert await store.signing_secrets(EVERY_ACCOUNT, "a") == [
        SigningSecret("whsec_4", None),
        SigningSecret("whsec_3", NOW + 3 * HOUR),
        SigningSecret("whsec_2", NOW + 2 * HOUR),
    ]
    # Each channel has its own.
    await store.insert_channel(make_channel("b"), "whsec_b", None)
    assert await store.signing_secrets(EVERY_ACCOUNT, "b") == [SigningSecret("whsec_b", None)]
    assert await store.signing_secrets(EVERY_ACCOUNT, "missing") == []


async def test_channels_list_in_creation_order_filtered_and_paged(empty_store: Store) -> None:
    store = empty_store
    for channel_id, department, enabled in [
        ("c1", 7, True),
        ("c2", 8, True),
        ("c3", 7, False),
        ("c4", 7, True),
        ("c5", 8, False),
    ]:
        channel = make_channel(channel_id)
        spec = replace(channel.spec, department_id=department, enabled=enabled)
        await store.insert_channel(replace(channel, spec=spec), "whsec_test", None)

    async def listed(channel_filter: ChannelFilter, after: int = 0) -> list[str]:
        return [
            c.id for _, c in await store.list_channels(EVERY_ACCOUNT, channel_filter, after, 100)
        ]

    assert await listed(ChannelFilter()) == ["c1", "c2", "c3", "c4", "c5"]
    assert await listed(ChannelFilter(department_id=7)) == ["c1", "c3", "c4"]
    assert await listed(ChannelFilter(enabled=False)) == ["c3", "c5"]
    assert await listed(ChannelFilter(department_id=7, enabled=True)) == ["c1", "c4"]
    assert await listed(ChannelFilter(department_id=9)) == []
    await store.disable_channel("c1", "failing", NOW)
    assert await listed(ChannelFilter(enabled=True)) == ["c2", "c4"]

    # Pages go on from the last position: a channel created or deleted meanwhile neither
    # repeats nor skips one, and a new one comes last.
    pages: list[list[str]] = []
    after = 0
    while page := await store.list_channels(
        EVERY_ACCOUNT, ChannelFilter(department_id=7), after, 2
    ):
        pages.append([channel.id for _, channel in page])
        after = page[-1][0]
        if len(pages) == 1:
            await add_channels(store, "c6")
            await store.delete_channel(EVERY_ACCOUNT, "c1")
            await store.delete_channel(EVERY_ACCOUNT, "c4")
            await add_channels(store, "c7")
    assert pages == [["c1", "c3"], ["c6", "c7"]]
    positions = [
        position
        for position, _ in await store.list_channels(EVERY_ACCOUNT, ChannelFilter(), 0, 100)
    ]
    assert positions == sorted(set(positions))
    assert len(positions) == 5


def of_type(event: MatchedEvent, event_type: EventType) -> MatchedEvent:
    return event._replace(event=event.event._replace(event_type=event_type))


async def test_the_log_filters_by_each_field_newest_first(empty_store: Store) -> None:
    store = empty_store
    await add_channels(store, "a", "b")
    await store.ingest(
        [
            matched("e1", "a", ticket_id=1),
            of_type(matched("e2", "a", "b", ticket_id=2), EventType.TICKET_COMMENT),
            matched("e3", "b", ticket_id=1),
        ],
        NOW,
    )
    a1, a2, b2, b3 = await claim(store, ["a", "b"])
    # Attempted a minute apart, in an order unlike their ids.
    await store.finish_attempts(
        [
            attempt(b3, AttemptOutcome.GIVEN_UP, NOW + MINUTE),
            attempt(a2, AttemptOutcome.DELIVERED, NOW + 3 * MINUTE),
            attempt(a1, AttemptOutcome.RETRY_SCHEDULED, NOW, next_attempt_at=NOW + HOUR),
            attempt(b2, AttemptOutcome.DELIVERED, NOW + 2 * MINUTE),
        ],
        DEFAULT_POLICY,
    )
    assert await log_ids(store, LogFilter()) == ["e2", "e2", "e3", "e1"]
    records = await store.list_attempts(EVERY_ACCOUNT, LogFilter(), None, 10)
    assert [r.channel_id for r in records] == ["a", "b", "b", "a"]
    assert await log_ids(store, LogFilter(channel_id="b")) == ["e2", "e3"]
    assert await log_ids(store, LogFilter(ticket_id=1)) == ["e3", "e1"]
    assert await log_ids(store, LogFilter(event_type=EventType.TICKET_COMMENT)) == ["e2", "e2"]
    assert await log_ids(store, LogFilter(outcome=AttemptOutcome.GIVEN_UP)) == ["e3"]
    assert await log_ids(store, LogFilter(outcome=AttemptOutcome.RETRY_SCHEDULED)) == ["e1"]
    assert await log_ids(store, LogFilter(event_id="e1")) == ["e1"]
    # The start is in the window, the end is not.
    window = LogFilter(start_time=NOW + MINUTE, end_time=NOW + 3 * MINUTE)
    assert await log_ids(store, window) == ["e2", "e3"]
    assert await log_ids(store, LogFilter(start_time=NOW + 3 * MINUTE)) == ["e2"]
    assert await log_ids(store, LogFilter(end_time=NOW)) == []
    both = LogFilter(channel_id="b", ticket_id=2, outcome=AttemptOutcome.DELIVERED)
    assert [
        (r.channel_id, r.event_id) for r in await store.list_attempts(EVERY_ACCOUNT, both, None, 10)
    ] == [("b", "e2")]
    assert await log_ids(store, LogFilter(channel_id="missing")) == []


async def test_log_pages_stay_put_while_attempts_are_recorded(empty_store: Store) -> None:
    store = empty_store
    await add_channels(store, "a")
    await store.ingest([matched(f"e{n}", "a") for n in range(6)], NOW)
    due = await claim(store, ["a"])
    await store.finish_attempts(
        [attempt(d, AttemptOutcome.DELIVERED, NOW + n * MINUTE) for n, d in enumerate(due[:4])],
        DEFAULT_POLICY,
    )
    first = await store.list_attempts(EVERY_ACCOUNT, LogFilter(), None, 2)
    assert [r.event_id for r in first] == ["e3", "e2"]
    # Newer entries come in between pages: the next page goes on where the last ended.
    await store.finish_attempts(
        [attempt(d, AttemptOutcome.DELIVERED, NOW + HOUR) for d in due[4:]], DEFAULT_POLICY
    )
    before = (to_micros(first[-1].attempted_at), first[-1].id)
    assert [
        r.event_id for r in await store.list_attempts(EVERY_ACCOUNT, LogFilter(), before, 10)
    ] == [
        "e1",
        "e0",
    ]


async def test_pruning_takes_finished_history_before_the_cutoff(empty_store: Store) -> None:
    store = empty_store
    await add_channels(store, "a", "b")
    events = ["old-ok", "old-lost", "old-retry", "new-ok", "both"]
    await store.ingest([matched(e, "a") for e in events[:4]] + [matched("both", "a", "b")], NOW)
    old_ok, old_lost, old_retry, new_ok, both_a, _ = await claim(store, ["a", "b"])
    cutoff = NOW + HOUR
    await store.finish_attempts(
        [
            attempt(old_ok, AttemptOutcome.DELIVERED),
            attempt(old_lost, AttemptOutcome.GIVEN_UP),
            attempt(old_retry, AttemptOutcome.RETRY_SCHEDULED, next_attempt_at=NOW + 2 * HOUR),
            attempt(new_ok, AttemptOutcome.DELIVERED, cutoff),
            attempt(both_a, AttemptOutcome.DELIVERED),
        ],
        DEFAULT_POLICY,
    )
    # Four log entries and three finished deliveries before the cutoff; then the two events
    # left without a delivery. The retry's event, the new delivery's and the one still pending
    # for "b" stay.
    assert await store.prune(cutoff, 100) == 4 + 3 + 2
    assert await store.prune(cutoff, 100) == 0
    assert await log_ids(store, LogFilter()) == ["new-ok"]
    assert await store.pending_deliveries(["a", "b"]) == {"a": 1, "b": 1}
    assert await store.redeliver(EVERY_ACCOUNT, "a", "old-ok", None, cutoff) == 0
    assert await store.redeliver(EVERY_ACCOUNT, "a", "new-ok", None, cutoff) == 1
    # A pruned event id is new again; a kept one is still a duplicate.
    again = await store.ingest([matched(e) for e in events], cutoff)
    assert [result.accepted for result in again] == [True, True, False, False, False]


async def test_pruning_goes_in_batches_until_nothing_is_left(empty_store: Store) -> None:
    store = empty_store
    await add_channels(store, "a")
    await store.ingest([matched(f"e{n}", "a") for n in range(5)], NOW)
    await store.finish_attempts(
        [attempt(d, AttemptOutcome.DELIVERED) for d in await claim(store, ["a"])], DEFAULT_POLICY
    )
    counts: list[int] = []
    while removed := await store.prune(NOW + MINUTE, 2):
        counts.append(removed)
    # Five log entries, five deliveries and their five events, in three rounds.
    assert counts == [6, 6, 3]
    assert await store.list_attempts(EVERY_ACCOUNT, LogFilter(), None, 10) == []


async def test_a_deleted_channels_attempts_stay_in_the_log_until_pruned(
    empty_store: Store,
) -> None:
    store = empty_store
    await add_channels(store, "a")
    await store.ingest([matched("e1", "a"), matched("e2", "a")], NOW)
    first, _ = await claim(store, ["a"])
    await store.finish_attempts([attempt(first, AttemptOutcome.DELIVERED)], DEFAULT_POLICY)
    await store.delete_channel(EVERY_ACCOUNT, "a")
    assert await store.pending_deliveries(["a"]) == {}
    assert await log_ids(store, LogFilter(channel_id="a")) == ["e1"]
    # The log entry, then both events, now without deliveries.
    assert await store.prune(NOW + MINUTE, 100) == 1 + 2
    assert await log_ids(store, LogFilter()) == []


async def test_redelivery_makes_one_event_or_recent_failures_due_again(
    empty_store: Store,
) -> None:
    store = empty_store
    await add_channels(store, "a", "b")
    events = ["ok", "lost-early", "lost-late", "retry"]
    await store.ingest([matched(e, "a") for e in events] + [matched("lost-b", "b")], NOW)
    ok, early, late, retry, lost_b = await claim(store, ["a", "b"])
    await store.finish_attempts(
        [
            attempt(ok, AttemptOutcome.DELIVERED),
            attempt(early, AttemptOutcome.GIVEN_UP, NOW),
            attempt(late, AttemptOutcome.GIVEN_UP, NOW + MINUTE),
            attempt(retry, AttemptOutcome.RETRY_SCHEDULED, next_attempt_at=NOW + HOUR),
            attempt(lost_b, AttemptOutcome.GIVEN_UP, NOW + MINUTE),
        ],
        DEFAULT_POLICY,
    )
    later = NOW + 2 * MINUTE
    # Failures given up at or after the time, of that channel only; never a delivered one.
    assert await store.redeliver(EVERY_ACCOUNT, "a", None, NOW + MINUTE, later) == 1
    assert await claim(store, ["a", "b"], later) == [replace(late, attempts=1)]
    assert await store.redeliver(EVERY_ACCOUNT, "a", None, NOW + 2 * HOUR, later) == 0

    # One event, whatever became of it: delivered, or waiting for its retry; in that channel.
    assert await store.redeliver(EVERY_ACCOUNT, "a", "ok", None, later) == 1
    assert await store.redeliver(EVERY_ACCOUNT, "a", "retry", None, later) == 1
    assert await store.redeliver(EVERY_ACCOUNT, "a", "lost-b", None, later) == 0
    assert await store.redeliver(EVERY_ACCOUNT, "a", "missing", None, later) == 0
    assert await store.redeliver(EVERY_ACCOUNT, "missing", "ok", None, later) == 0
    # The failure redelivered first is still claimed.
    redelivered = await claim(store, ["a", "b"], later)
    assert redelivered == [replace(ok, attempts=1), replace(retry, attempts=1)]
    assert await store.pending_deliveries(["a", "b"]) == {"a": 3}


async def test_the_next_due_time_is_the_earliest_pending_after_a_time(empty_store: Store) -> None:
    store = empty_store
    await add_channels(store, "a", "b", "c")
    assert await store.next_due_at(["a", "b", "c"], NOW) is None
    await store.ingest([matched("e1", "a"), matched("e2", "a"), matched("e3", "b")], NOW)
    e1, e2, e3 = await claim(store, ["a", "b"])
    await store.finish_attempts(
        [
            attempt(e1, AttemptOutcome.RETRY_SCHEDULED, next_attempt_at=NOW + 2 * HOUR),
            attempt(e2, AttemptOutcome.RETRY_SCHEDULED, next_attempt_at=NOW + HOUR),
            attempt(e3, AttemptOutcome.RETRY_SCHEDULED, next_attempt_at=NOW + MINUTE),
        ],
        DEFAULT_POLICY,
    )
    assert await store.next_due_at(["a", "b"], NOW) == NOW + MINUTE
    assert await store.next_due_at(["a"], NOW) == NOW + HOUR
    assert await store.next_due_at(["a"], NOW + HOUR) == NOW + 2 * HOUR
    assert await store.next_due_at(["a"], NOW + 2 * HOUR) is None
    assert await store.next_due_at(["c"], NOW) is None
    assert await store.pending_deliveries(["a", "b", "c"]) == {"a": 2, "b": 1}
    # Given up, a delivery is no longer waited for.
    (due,) = await claim(store, ["b"], NOW + MINUTE)
    await store.finish_attempts(
        [attempt(due, AttemptOutcome.GIVEN_UP, NOW + MINUTE)], DEFAULT_POLICY
    )
    assert await store.next_due_at(["b"], NOW) is None
    assert await store.pending_deliveries(["b"]) == {}


async def test_a_batch_larger_than_one_statement_is_stored_and_recorded_whole(
    empty_store: Store,
) -> None:
    """The SQLite store writes a few hundred rows per statement: a batch of several statements
    keeps every row, its order and its ids."""
    store = empty_store
    await add_channels(store, "a", "b", "gone")
    await store.delete_channel(EVERY_ACCOUNT, "gone")
    count = 1201
    events = [matched(f"e{n}", "a", "b", "gone", ticket_id=n) for n in range(count)]
    # The second copy of an event in the batch is not stored again.
    results = await store.ingest([*events, events[0]], NOW)
    assert [result.accepted for result in results] == [True] * count + [False]
    assert await store.pending_deliveries(["a", "b", "gone"]) == {"a": count, "b": count}

    rules = ClaimRules({"a": count, "b": count})
    due = (await claim_within(store, rules, limit=2 * count)).deliveries
    assert sorted((d.channel_id, d.event_id) for d in due) == sorted(
        (channel_id, f"e{n}") for n in range(count) for channel_id in "ab"
    )
    retried = {d.delivery_id for d in due if d.channel_id == "b"}
    finished = await store.finish_attempts(
        [
            failed(d, NOW) if d.delivery_id in retried else attempt(d, AttemptOutcome.DELIVERED)
            for d in due
        ],
        DEFAULT_POLICY,
    )
    ids = [record.id for record in finished.attempts]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(due)
    assert [record.delivery_id for record in finished.attempts] == [d.delivery_id for d in due]
    assert await store.pending_deliveries(["a", "b"]) == {"b": count}
    assert finished.health["b"].consecutive_failures == count
    logged = await store.list_attempts(EVERY_ACCOUNT, LogFilter(channel_id="a"), None, 2 * count)
    assert sorted(record.event_id for record in logged) == sorted(f"e{n}" for n in range(count))


async def test_recording_tells_whose_circuit_opened_or_closed(empty_store: Store) -> None:
    store = empty_store
    await add_channels(store, "a")
    await store.ingest([matched(f"e{n}", "a") for n in range(4)], NOW)
    first, second, third, fourth = await claim(store, ["a"])
    policy = BreakerPolicy(failure_threshold=2)
    changes = [
        (await store.finish_attempts([recorded], policy)).circuit_changes
        for recorded in (
            failed(first, NOW),
            failed(second, NOW + MINUTE),
            failed(third, NOW + 2 * MINUTE),
            attempt(fourth, AttemptOutcome.DELIVERED, NOW + HOUR),
        )
    ]
    # Told once as it opens, not again as it fails on, and once as it closes.
    assert changes == [{}, {"a": CircuitState.OPEN}, {}, {"a": CircuitState.CLOSED}]
