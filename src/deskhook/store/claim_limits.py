"""The rate limit inside a claim, the same in every store: each rate-limited channel's bucket
refilled at the claim's time, what that allows, and the buckets once the claimed deliveries
have paid their tokens. The stores keep the buckets (in memory or on the channel rows)."""

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from deskhook.domain.delivery import DueDelivery
from deskhook.domain.limits import allowance
from deskhook.domain.rate import TokenBucket, next_token_at, refilled, taken
from deskhook.store.base import ClaimRules


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
    rules: ClaimRules, channel_ids: Iterable[str], buckets: Mapping[str, TokenBucket]
) -> dict[str, int]:
    """What a claim may take of each of `channel_ids`, before leases are counted."""
    return {
        channel_id: allowance(rules.slots[channel_id], buckets.get(channel_id))
        for channel_id in channel_ids
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
