"""The channels' health as the scheduler sees it: the stored health, which counts every
replica's results, run ahead by this scheduler's own results while they are on their way to the
store, so that it stops sending to a channel whose circuit it just saw open."""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from deskhook.domain.breaker import (
    BreakerPolicy,
    ChannelHealth,
    may_send,
    next_probe_at,
    record_result,
    start_probe,
)
from deskhook.domain.delivery import Attempt
from deskhook.domain.responses import concerns_receiver

# A channel with no results yet: one instance, handed out for every such channel (the scheduler
# asks for a channel's health several times per channel per claim).
HEALTHY = ChannelHealth()


class HealthView:
    def __init__(self, breaker: BreakerPolicy) -> None:
        self._breaker = breaker
        self._health: dict[str, ChannelHealth] = {}
        # Results counted into `_health` and not yet into the stored health, by channel.
        self._unsettled: Counter[str] = Counter()

    def __call__(self, channel_id: str) -> ChannelHealth:
        return self._health.get(channel_id, HEALTHY)

    def load(self, stored: Mapping[str, ChannelHealth]) -> None:
        """Start from the stored health of every channel."""
        self._health = dict(stored)

    def may_send(self, channel_id: str, now: datetime) -> bool:
        return may_send(self(channel_id), now, self._breaker)

    def start_probe(self, channel_id: str, now: datetime) -> None:
        self._health[channel_id] = start_probe(self(channel_id), now, self._breaker)

    def end_probe(self, channel_id: str, seen: ChannelHealth) -> None:
        """The channel, `seen` so when it was found due to be disabled, was disabled: no probe
        of it is on its way."""
        self._health[channel_id] = replace(seen, probe_in_flight=False)

    def probes_due(self) -> list[datetime | None]:
        """When each open circuit may send its next probe."""
        return [next_probe_at(health, self._breaker) for health in self._health.values()]

    def count(self, channel_id: str, succeeded: bool, now: datetime) -> None:
        """Count an attempt's result into this view at once; the store counts it into the
        stored health when the attempt is recorded."""
        self._health[channel_id] = record_result(self(channel_id), succeeded, now, self._breaker)
        self._unsettled[channel_id] += 1

    def settle(self, records: Iterable[Attempt]) -> None:
        """These attempts reached the store (or failed to): their results are no longer this
        view's alone."""
        for record in records:
            if concerns_receiver(record.failure):
                self._unsettled[record.channel_id] -= 1

    def adopt(self, stored: Mapping[str, ChannelHealth]) -> None:
        """Take the store's health of these channels, which counts every replica's results,
        for those with none of this scheduler's still on their way to it."""
        for channel_id, health in stored.items():
            if not self._unsettled[channel_id]:
                self._health[channel_id] = health
