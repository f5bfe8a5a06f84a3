"""Refused sign-ins by address, for the JSON API (docs/design.md §12.1): the buckets the pure
rules in `deskhook.domain.sign_in` decide on, kept in memory, a bounded number of them."""

from collections.abc import Callable
from datetime import datetime

from deskhook.domain.rate import TokenBucket
from deskhook.domain.sign_in import SignInPolicy, address_key, after_refusal, is_full, may_try

DEFAULT_POLICY = SignInPolicy()
# Addresses with refusals remembered at once; past it the longest quiet are forgotten first.
MAX_ADDRESSES = 10_000


class SignInLimiter:
    def __init__(
        self,
        now: Callable[[], datetime],
        policy: SignInPolicy = DEFAULT_POLICY,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self._now = now
        self._policy = policy
        self._max_addresses = max_addresses
        # In the order of their last refusal, oldest first.
        self._buckets: dict[str, TokenBucket] = {}

    def allows(self, address: str | None) -> bool:
        return may_try(self._buckets.get(address_key(address)), self._policy, self._now())

    def refused(self, address: str | None) -> None:
        key, now = address_key(address), self._now()
        self._buckets[key] = after_refusal(self._buckets.pop(key, None), self._policy, now)
        if len(self._buckets) > self._max_addresses:
            self._buckets = {
                k: bucket
                for k, bucket in self._buckets.items()
                if not is_full(bucket, self._policy, now)
            }
        while len(self._buckets) > self._max_addresses:
            del self._buckets[next(iter(self._buckets))]
