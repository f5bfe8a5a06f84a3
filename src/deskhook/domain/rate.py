"""A per-channel rate limit as a token bucket: `rate` attempts per second, with bursts of at
most one second's worth."""

from dataclasses import dataclass
from datetime import datetime


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
