"""The limits that every scheduler sharing a store keeps together, applied the same way by
every store: what a claim may take of each channel by its breaker and its rate (its bucket
refilled at the claim's time), the buckets once the claimed deliveries paid their tokens, and
the stored health once recorded attempts are counted into it. The rules are the domain's; the
stores keep the state (in memory, or on the channel rows) and count leases."""

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from deskhook.domain.breaker import BreakerPolicy, ChannelHealth, CircuitState, record_result
from deskhook.domain.delivery import Attempt, DueDelivery
from deskhook.domain.limits import allowance
from deskhook.domain.rate import TokenBucket, next_token_at, refilled, taken
from deskhook.domain.responses import concerns_receiver
from deskhook.store.base import ClaimRules

# The health of a channel with no attempt recorded yet.
UNTRIED = ChannelHealth()


def refilled_buckets(
    rules: ClaimRules,
    channel_ids: Iterable[str],
    stored: Callable[[str], TokenBucket | None],
    now: datetime,
) -> dict[str, TokenBucket]:
    """The buckets of the rate-limited ones of `channel_ids` at `now`."""
    return {
        channel_id: refilled(stored(channel_id), rules.rates[channel_id], now)
        for channel_id in channel_ids
        if channel_id in rules.rates
    }


def allowances(
    rules: ClaimRules,
    health: Mapping[str, ChannelHealth],
    buckets: Mapping[str, TokenBucket],
    now: datetime,
) -> dict[str, int]:
    """What a claim may take of each channel of `health`, before its leases are counted."""
    return {
        channel_id: allowance(
            rules.slots[channel_id], channel, buckets.get(channel_id), now, rules.breaker
        )
        for channel_id, channel in health.items()
    }


def paid(
    buckets: Mapping[str, TokenBucket], claimed: Sequence[DueDelivery]
) -> dict[str, TokenBucket]:
    """The buckets after a token for each claimed delivery of their channel."""
    counts = Counter(delivery.channel_id for delivery in claimed)
    return {channel_id: taken(bucket, counts[channel_id]) for channel_id, bucket in buckets.items()}


def first_token_at(rules: ClaimRules, buckets: Mapping[str, TokenBucket]) -> datetime | None:
    """When the first of `buckets` short of a whole token earns one again."""
    moments = [
        moment
        for channel_id, bucket in buckets.items()
        if (moment := next_token_at(bucket, rules.rates[channel_id])) is not None
    ]
    return min(moments, default=None)


def recorded_health(
    stored: Mapping[str, ChannelHealth],
    attempts: Sequence[tuple[Attempt, datetime]],
    breaker: BreakerPolicy,
) -> dict[str, ChannelHealth]:
    """The health of each channel of `attempts` once their results are counted into it, in
    order, each as of the time given with it."""
    health: dict[str, ChannelHealth] = {}
    for record, answered_at in attempts:
        if not concerns_receiver(record.failure):
            continue
        channel_id = record.channel_id
        current = health.get(channel_id) or stored.get(channel_id, UNTRIED)
        health[channel_id] = record_result(current, record.failure is None, answered_at, breaker)
    return health


def circuit_changes(
    before: Mapping[str, ChannelHealth], after: Mapping[str, ChannelHealth]
) -> dict[str, CircuitState]:
    """The channels of `after` whose circuit is not as it was `before`, with its new state."""
    return {
        channel_id: health.state
        for channel_id, health in after.items()
        if health.state is not before.get(channel_id, UNTRIED).state
    }


def counted_without_change(
    stored: ChannelHealth | None,
    attempts: Sequence[tuple[Attempt, datetime]],
    resolution: timedelta,
) -> bool:
    """Whether counting `attempts` (of one channel) into its `stored` health changes nothing a
    write need keep: the circuit is closed, nothing failed before or now, and the stored last
    success is within `resolution` of each new one. A store may then leave the channel's row
    alone, and its last success time up to `resolution` behind."""
    if (
        stored is None
        or stored.state is not CircuitState.CLOSED
        or stored.consecutive_failures
        or stored.last_success_time is None
    ):
        return False
    return all(
        record.failure is None and answered_at - stored.last_success_time < resolution
        for record, answered_at in attempts
        if concerns_receiver(record.failure)
    )
