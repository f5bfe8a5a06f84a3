"""Channels, events and attempts as the store takes them, for tests that call a store
directly."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from deskhook.domain.channel_spec import Channel, ChannelSpec, Ordering
from deskhook.domain.delivery import Attempt, AttemptOutcome, DueDelivery
from deskhook.domain.events import EventType, MatchedEvent, PublishedEvent
from deskhook.domain.responses import FailureReason
from deskhook.domain.times import to_micros
from deskhook.store.base import Claimed, ClaimRules, Store
from deskhook.store.open import open_store
from deskhook.store.postgres.connection import POOL_SIZE

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
MICROSECOND = timedelta(microseconds=1)


@asynccontextmanager
async def opened(database: str, pool_size: int = POOL_SIZE) -> AsyncIterator[Store]:
    store = await open_store(database, pool_size)
    try:
        yield store
    finally:
        await store.close()


def make_channel(
    channel_id: str, ordering: Ordering = Ordering.UNORDERED, account_id: str = ""
) -> Channel:
    spec = ChannelSpec(
        name=channel_id,
        url="https://hooks.example.com/deskhook",
        department_id=7,
        subscriptions=(EventType.TICKET_CREATE,),
        ordering=ordering,
    )
    return Channel(channel_id, spec, create_time=NOW, update_time=NOW, account_id=account_id)


async def add_channels(store: Store, *channel_ids: str, account_id: str = "") -> None:
    for channel_id in channel_ids:
        await store.insert_channel(
            make_channel(channel_id, account_id=account_id), "whsec_test", None
        )


def matched(
    event_id: str, *channel_ids: str, ticket_id: int = 1, account_id: str = ""
) -> MatchedEvent:
    event = PublishedEvent(
        event_id=event_id,
        event_type=EventType.TICKET_CREATE,
        department_ids=(7,),
        ticket_id=ticket_id,
        ticket_number=f"HD-{ticket_id}",
        occurred_at_micros=to_micros(NOW),
        payload=event_id.encode(),
        account_id=account_id,
    )
    return MatchedEvent(event, channel_ids)


async def claim(store: Store, channel_ids: Sequence[str], at: datetime = NOW) -> list[DueDelivery]:
    """Claim at `at` for a lease, with ten slots for each channel."""
    return (await claim_within(store, ClaimRules(dict.fromkeys(channel_ids, 10)), at)).deliveries


async def claim_within(
    store: Store, rules: ClaimRules, at: datetime = NOW, limit: int = 100
) -> Claimed:
    """Claim at `at` for a lease, within `rules`."""
    return await store.claim_due(at, at + LEASE, rules, limit)


def attempt(
    due: DueDelivery,
    outcome: AttemptOutcome,
    at: datetime = NOW,
    next_attempt_at: datetime | None = None,
) -> tuple[Attempt, datetime]:
    """An attempt of `due` at `at`, answered at once: 200 when delivered, else 500."""
    record = Attempt(
        delivery_id=due.delivery_id,
        channel_id=due.channel_id,
        event_id=due.event_id,
        event_type=due.event_type,
        ticket_id=due.ticket_id,
        ticket_number=due.ticket_number,
        account_id=due.account_id,
        attempt=due.attempts + 1,
        http_status=200 if outcome is AttemptOutcome.DELIVERED else 500,
        response_body="",
        outcome=outcome,
        attempted_at=at,
        duration=timedelta(milliseconds=20),
        error="",
        failure=None if outcome is AttemptOutcome.DELIVERED else FailureReason.HTTP_STATUS,
        webhook_id=f"msg_{due.delivery_id}",
        next_attempt_at=next_attempt_at,
    )
    return record, at


def failed(due: DueDelivery, at: datetime) -> tuple[Attempt, datetime]:
    """An attempt of `due` at `at` that failed, its retry due at once."""
    return attempt(due, AttemptOutcome.RETRY_SCHEDULED, at, next_attempt_at=at)
