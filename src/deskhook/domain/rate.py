"""Rate limits as token buckets: a channel's `rate` attempts per second, with bursts of at most
one second's worth, and (`capacity` given) any rate with bursts of `capacity`."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class TokenBucket:
    tokens: float
    updated: datetime


def refilled(
    bucket: TokenBucket | None, rate: float, now: datetime, capacity: float | None = None
) -> TokenBucket:
    """The bucket at `now`, refilled at `rate` tokens per second up to `capacity` (one second's
    worth unless given); a new one starts full."""
    full = float(rate if capacity is None else capacity)
    if bucket is None:
        return TokenBucket(full, now)
    elapsed = max((now - bucket.updated).total_seconds(), 0.0)
    return TokenBucket(min(full, bucket.tokens + elapsed * rate), now)


def taken(bucket: TokenBucket, count: int) -> TokenBucket:
    return TokenBucket(bucket.tokens - count, bucket.updated)


def next_token_at(bucket: TokenBucket, rate: int) -> datetime | None:
    """When the bucket holds a whole token again; None while it holds one. Rounded up to the
    microsecond, so that a refill at that moment has the token."""
    missing = 1.0 - bucket.tokens
    if missing <= 0:
        return None
    return bucket.updated + timedelta(microseconds=math.ceil(missing / rate * 1_000_000))
