"""How much of a channel's due work one claim may take, by the limits that every scheduler
sharing a store keeps together: its concurrency, its rate and its circuit breaker
(docs/design.md §5.4, §5.5, §7). The stores keep the state these rules read (leases, token
buckets, health) and apply them inside their claims, with `now` passed in."""

import math
from datetime import datetime

from deskhook.domain.breaker import BreakerPolicy, ChannelHealth, CircuitState, may_send
from deskhook.domain.rate import TokenBucket


def allowance(
    slots: int,
    health: ChannelHealth,
    bucket: TokenBucket | None,
    now: datetime,
    policy: BreakerPolicy,
) -> int:
    """How many due deliveries of a channel one claim may take before its leases are counted:
    up to the claiming scheduler's `slots`, none while its open circuit's next probe is not due,
    and no more than the whole tokens in its bucket (None: no rate limit)."""
    if not may_send(health, now, policy):
        return 0
    if bucket is not None:
        slots = min(slots, math.floor(bucket.tokens))
    return max(slots, 0)


def most_leased(limit: int | None, health: ChannelHealth) -> int | None:
    """The most deliveries of a channel claimed at once over every scheduler: its concurrency
    `limit` (None: none), and while its circuit is open one, the probe, so that no probe goes
    out beside another or beside a request still in flight."""
    return 1 if health.state is CircuitState.OPEN else limit
