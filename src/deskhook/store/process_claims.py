"""Claims kept in the process, for a store that one process owns (a SQLite file, or memory):
claiming is then a read that never waits for a writer, and a restart starts with no claims,
which releases whatever a crash left in flight. The rate limits' token buckets live here for the
same reason. The store supplies the stored health and the query that picks the due deliveries;
the rules are those every store applies (`deskhook.store.shared_limits`)."""

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from deskhook.domain.breaker import ChannelHealth
from deskhook.domain.delivery import DueDelivery
from deskhook.domain.limits import most_leased
from deskhook.domain.rate import TokenBucket
from deskhook.domain.times import to_micros
from deskhook.store.base import Claimed, ClaimRules
from deskhook.store.shared_limits import UNTRIED, allowances, first_token_at, paid, refilled_buckets


class Lease(NamedTuple):
    """A claim: of which channel's delivery, and until when (Unix microseconds)."""

    channel_id: str
    until: int


class ProcessClaims(ABC):
    def __init__(self) -> None:
        # Claimed deliveries by id.
        self._claims: dict[int, Lease] = {}
        self._buckets: dict[str, TokenBucket] = {}

    @abstractmethod
    async def _stored_health(self) -> dict[str, ChannelHealth]:
        """Every channel's stored health, kept in step with recorded attempts: the same dict
        from call to call, so that a claim reads it again once its query is done."""

    @abstractmethod
    async def _claim(
        self, now_micros: int, rules: ClaimRules, allowed: dict[str, int], limit: int
    ) -> list[DueDelivery]:
        """Up to `limit` deliveries due at `now_micros` and not in `self._claims`, earliest due
        first, at most `allowed[channel]` of each channel; of a per-ticket channel only a
        ticket's earliest pending delivery."""

    async def release_claims(self, delivery_ids: Sequence[int] | None = None) -> None:
        if delivery_ids is None:
            self._claims.clear()
        for delivery_id in delivery_ids or ():
            self._claims.pop(delivery_id, None)

    async def claim_due(
        self, now: datetime, claim_until: datetime, rules: ClaimRules, limit: int
    ) -> Claimed:
        if not rules.slots or limit <= 0:
            return Claimed([])
        now_micros = to_micros(now)
        self._claims = {
            id_: lease for id_, lease in self._claims.items() if lease.until > now_micros
        }
        stored = await self._stored_health()
        health = {channel_id: stored.get(channel_id, UNTRIED) for channel_id in rules.slots}
        buckets = refilled_buckets(rules, rules.slots, self._buckets.get, now)
        allowed = allowances(rules, health, buckets, now)
        self._keep_to_one_probe(allowed, health)
        claimed = await self._claim(now_micros, rules, allowed, limit)
        until = to_micros(claim_until)
        for delivery in claimed:
            self._claims[delivery.delivery_id] = Lease(delivery.channel_id, until)
        buckets = paid(buckets, claimed)
        self._buckets.update(buckets)
        # Read again: attempts recorded while the claim ran are in it now.
        health = {channel_id: stored.get(channel_id, UNTRIED) for channel_id in rules.slots}
        return Claimed(claimed, health, first_token_at(rules, buckets))

    def _keep_to_one_probe(
        self, allowed: dict[str, int], health: Mapping[str, ChannelHealth]
    ) -> None:
        """One scheduler owns the store, and its slots keep each channel within its limit: here
        leases count only against an open circuit's single probe."""
        most = {
            channel_id: leases
            for channel_id, channel in health.items()
            if (leases := most_leased(None, channel)) is not None
        }
        if most:
            held = Counter(lease.channel_id for lease in self._claims.values())
            for channel_id, leases in most.items():
                allowed[channel_id] = max(min(allowed[channel_id], leases - held[channel_id]), 0)
