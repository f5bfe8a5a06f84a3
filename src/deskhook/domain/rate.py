"""A per-channel rate limit as a token bucket: `rate` attempts per second, with bursts of at
most one second's worth."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class TokenBucket:
    tokens: float
    updated: datetime


def refilled(bucket: TokenBucket | None, rate: int, now: datetime) -> TokenBucket:
    """The bucket at `now`; a new one starts full."""
    if bucket is None:
        return TokenBucket(float(rate), now)
    elapsed = max((now - bucket.updated).total_seconds(), 0.0)
    return TokenBucket(min(float(rate), bucket.tokens + elapsed * rate), now)


def taken(bucket: TokenBucket, count: int) -> TokenBucket:
    return TokenBucket(bucket.tokens - count, bucket.updated)


def next_token_at(bucket: TokenBucket, rate: int) -> datetime | None:
    """When the bucket holds a whole token again; None while it holds one. Rounded up to the
    microsecond, so that a refill at that moment has the token."""
    missing = 1.0 - bucket.tokens
    if missing <= 0:
        return None
    return bucket.updated + timedelta(microseconds=math.ceil(missing / rate * 1_000_000))
