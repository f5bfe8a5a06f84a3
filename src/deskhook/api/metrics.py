"""One server's Prometheus metrics: counters moved as events are acked and attempts recorded,
and per-channel gauges set from a snapshot just before each scrape."""

from collections.abc import Mapping, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from deskhook.domain.breaker import ChannelHealth, CircuitState
from deskhook.domain.delivery import Attempt, AttemptOutcome
from deskhook.domain.events import IngestResult

ACCEPTED: Final = "accepted"
DUPLICATE: Final = "duplicate"
REJECTED: Final = "rejected"
# Up to the 15 s a whole attempt may take.
ATTEMPT_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)


class ServerMetrics:
    """The metrics in a registry of their own, so that servers sharing a process (as in the
    tests) never count into each other's."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._events = Counter(
            "deskhook_events_ingested",
            "Events answered to their producer, by result: accepted or duplicate once"
            " committed, rejected when invalid.",
            ["result"],
            registry=self.registry,
        )
        self._attempts = Counter(
            "deskhook_delivery_attempts",
            "Delivery attempts, by what became of the delivery.",
            ["outcome"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "deskhook_attempt_duration_seconds",
            "How long each delivery attempt took, from request to the answer read.",
            buckets=ATTEMPT_BUCKETS,
            registry=self.registry,
        )
        self._pending = Gauge(
            "deskhook_deliveries_pending",
            "Deliveries waiting to be attempted, per channel.",
            ["channel_id"],
            registry=self.registry,
        )
        self._circuit_open = Gauge(
            "deskhook_channel_circuit_open",
            "1 while the channel's circuit breaker holds its deliveries, 0 otherwise.",
            ["channel_id"],
            registry=self.registry,
        )
        # Every series exists from the start: rate() needs the zero before the first increase.
        for result in (ACCEPTED, DUPLICATE, REJECTED):
            self._events.labels(result)
        for outcome in AttemptOutcome:
            self._attempts.labels(outcome.value)

    def count_ingested(self, results: Sequence[IngestResult]) -> None:
        accepted = sum(result.accepted for result in results)
        self._events.labels(ACCEPTED).inc(accepted)
        self._events.labels(DUPLICATE).inc(len(results) - accepted)

    def count_rejected(self, count: int) -> None:
        self._events.labels(REJECTED).inc(count)

    def observe_attempt(self, record: Attempt) -> None:
        self._attempts.labels(record.outcome.value).inc()
        self._duration.observe(record.duration.total_seconds())

    def set_channels(self, health: Mapping[str, tuple[ChannelHealth, int]]) -> None:
        """Replaces the per-channel gauges with `health` (circuit and pending count by channel
        id), so that deleted channels drop out."""
        self._pending.clear()
        self._circuit_open.clear()
        for channel_id, (channel_health, pending) in health.items():
            self._pending.labels(channel_id).set(pending)
            self._circuit_open.labels(channel_id).set(channel_health.state is CircuitState.OPEN)
