"""How much of a channel's due work one claim may take, by the limits that every scheduler
sharing a store keeps together (DESIGN §5). The stores keep the state these rules read (leases,
token buckets) and apply them inside their claims."""

import math

from deskhook.domain.rate import TokenBucket


def allowance(slots: int, bucket: TokenBucket | None) -> int:
    """How many due deliveries of a channel one claim may take before its leases are counted:
    up to the claiming scheduler's `slots`, and no more than the whole tokens in the channel's
    bucket (None: no rate limit)."""
    if bucket is not None:
        slots = min(slots, math.floor(bucket.tokens))
    return max(slots, 0)
