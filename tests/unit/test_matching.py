"""Matching happens inside the event's account (docs/design.md §10): department 7 of one
account is not department 7 of another, and a department change moves nothing across
accounts."""

from datetime import UTC, datetime

import pytest

from deskhook.domain.channel_spec import Channel, ChannelSpec
from deskhook.domain.events import EventType, PublishedEvent
from deskhook.domain.matching import build_index, match

NOW = datetime(2026, 1, 5, tzinfo=UTC)
CREATE = EventType.TICKET_CREATE
MOVED = EventType.TICKET_DEPARTMENT_CHANGE


def channel(
    channel_id: str,
    account_id: str,
    department_id: int = 7,
    subscriptions: tuple[EventType, ...] = (CREATE, MOVED),
    *,
    enabled: bool = True,
) -> Channel:
    spec = ChannelSpec(
        name=channel_id,
        url="https://hooks.example.com/",
        department_id=department_id,
        subscriptions=subscriptions,
        enabled=enabled,
    )
    return Channel(channel_id, spec, NOW, NOW, account_id=account_id)


def event(account_id: str, *department_ids: int, event_type: EventType = CREATE) -> PublishedEvent:
    return PublishedEvent(
        event_id="e-1",
        event_type=event_type,
        department_ids=department_ids,
        ticket_id=1,
        ticket_number="HD-1",
        occurred_at_micros=0,
        payload=b"",
        account_id=account_id,
    )


# Three accounts with the same departments and subscriptions: the default account, "a", "b".
CHANNELS = [
    channel("default-7", ""),
    channel("a-7", "a"),
    channel("b-7", "b"),
    channel("a-7-second", "a"),
    channel("a-8", "a", department_id=8),
    channel("b-8", "b", department_id=8),
    channel("default-8", "", department_id=8),
    channel("a-9", "a", department_id=9),
    channel("b-7-off", "b", enabled=False),
    channel("b-7-other-type", "b", subscriptions=(EventType.TICKET_CLOSE,)),
]


@pytest.mark.parametrize(
    ("account_id", "matched"),
    [
        ("", ("default-7",)),
        ("a", ("a-7", "a-7-second")),
        ("b", ("b-7",)),
        ("c", ()),
    ],
)
def test_an_event_reaches_only_its_own_accounts_channels_of_its_department(
    account_id: str, matched: tuple[str, ...]
) -> None:
    assert match(build_index(CHANNELS), event(account_id, 7)) == matched


@pytest.mark.parametrize(
    ("account_id", "matched"),
    [
        ("", ("default-7", "default-8")),
        ("a", ("a-7", "a-7-second", "a-8")),
        ("b", ("b-7", "b-8")),
        ("c", ()),
    ],
)
def test_a_department_change_reaches_the_old_and_new_department_of_its_account_only(
    account_id: str, matched: tuple[str, ...]
) -> None:
    moved = event(account_id, 8, 7, event_type=MOVED)
    assert sorted(match(build_index(CHANNELS), moved)) == sorted(matched)


def test_a_department_change_to_a_department_only_another_account_has_reaches_nothing_there() -> (
    None
):
    # Department 9 exists only in account "a": a ticket of "b" moving from 8 to 9 reaches b's 8.
    index = build_index(CHANNELS)
    assert match(index, event("b", 8, 9, event_type=MOVED)) == ("b-8",)
    assert match(index, event("b", 9, event_type=CREATE)) == ()
    assert match(index, event("a", 8, 9, event_type=MOVED)) == ("a-8", "a-9")


def test_accounts_and_departments_that_would_read_alike_run_together_stay_apart() -> None:
    # Account "a" department 77 and account "a7" department 7 are "a77" both, written together.
    index = build_index([channel("a-77", "a", 77), channel("a7-7", "a7", 7)])
    assert match(index, event("a", 77)) == ("a-77",)
    assert match(index, event("a7", 7)) == ("a7-7",)
    assert match(index, event("a", 7)) == ()
