"""A circuit breaker per channel, and the rule that disables a channel failing for days
(docs/design.md §5.3, §5.5).

After a run of consecutive failures the circuit opens: the channel's deliveries are held and
one probe at a time tests the receiver, so a receiver that is down costs one request per probe
interval instead of a request per pending delivery, and does not slow the other channels.
Each function takes the channel's health and returns the next one; `now` is passed in."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

FAILURE_THRESHOLD = 5
# While open, the first probe comes this long after the circuit opened, and each next one this
# long after the previous probe failed.
PROBE_INTERVAL = timedelta(seconds=30)
DISABLE_AFTER = timedelta(days=5)


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"


@dataclass(frozen=True)
class BreakerPolicy:
    """The breaker's thresholds; configuration and tests shorten them."""

    failure_threshold: int = FAILURE_THRESHOLD
    probe_interval: timedelta = PROBE_INTERVAL
    disable_after: timedelta = DISABLE_AFTER

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be 1 or more")
        if self.probe_interval < timedelta(0) or self.disable_after < timedelta(0):
            raise ValueError("probe_interval and disable_after must not be negative")


DEFAULT_POLICY = BreakerPolicy()


@dataclass(frozen=True)
class ChannelHealth:
    """`failing_since` is when the current run of failures began, None while the last result
    was a success; `opened_at` is set exactly while the circuit is OPEN (it is when it last
    opened, or when its last probe failed)."""

    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    last_success_time: datetime | None = None
    opened_at: datetime | None = None
    probe_in_flight: bool = False

    def __post_init__(self) -> None:
        # Health is read back from storage; a state the functions below could never produce
        # would otherwise hold the channel's deliveries forever.
        if (self.state is CircuitState.OPEN) != (self.opened_at is not None):
            raise ValueError("opened_at must be set exactly when the circuit is open")
        if self.probe_in_flight and self.state is not CircuitState.OPEN:
            raise ValueError("a probe can be in flight only while the circuit is open")


def may_send(health: ChannelHealth, now: datetime, policy: BreakerPolicy = DEFAULT_POLICY) -> bool:
    """Whether a request may go to the channel now. While OPEN, a yes is for exactly one probe,
    which the caller announces with `start_probe`."""
    if health.state is CircuitState.CLOSED:
        return True
    due = next_probe_at(health, policy)
    return due is not None and now >= due


def start_probe(
    health: ChannelHealth, now: datetime, policy: BreakerPolicy = DEFAULT_POLICY
) -> ChannelHealth:
    """`health` with the probe about to be sent in flight while OPEN; unchanged while CLOSED.

    Takes `now` and `policy` like the other transitions, but does not hold the probe to the
    interval: a caller that checked `may_send` before awaiting may find the circuit re-opened
    since, and one early probe costs less than a lost one. A second probe in flight would break
    one-at-a-time, so that is refused."""
    if health.probe_in_flight:
        raise ValueError("a probe is already in flight")
    if health.state is CircuitState.CLOSED:
        return health
    return replace(health, probe_in_flight=True)


def record_success(health: ChannelHealth, now: datetime) -> ChannelHealth:
    """One success, probe or not, closes the circuit and ends the run of failures."""
    return ChannelHealth(last_success_time=now)


def record_failure(
    health: ChannelHealth, now: datetime, policy: BreakerPolicy = DEFAULT_POLICY
) -> ChannelHealth:
    """Counts a failure; the circuit opens when the count reaches the threshold. Any failure
    while OPEN (a failed probe, or a request sent before the circuit opened) opens it afresh:
    the next probe waits a whole interval from the latest sign the receiver is down."""
    failures = health.consecutive_failures + 1
    failing_since = health.failing_since or now
    if health.state is CircuitState.CLOSED and failures < policy.failure_threshold:
        return replace(health, consecutive_failures=failures, failing_since=failing_since)
    return replace(
        health,
        state=CircuitState.OPEN,
        consecutive_failures=failures,
        failing_since=failing_since,
        opened_at=now,
        probe_in_flight=False,
    )


def record_result(
    health: ChannelHealth, succeeded: bool, now: datetime, policy: BreakerPolicy = DEFAULT_POLICY
) -> ChannelHealth:
    """`health` after one attempt's result."""
    return record_success(health, now) if succeeded else record_failure(health, now, policy)


def should_disable(
    health: ChannelHealth, now: datetime, policy: BreakerPolicy = DEFAULT_POLICY
) -> bool:
    """Whether the channel has been failing for `policy.disable_after` without one success."""
    if health.failing_since is None or now - health.failing_since < policy.disable_after:
        return False
    return health.last_success_time is None or health.last_success_time < health.failing_since


def next_probe_at(health: ChannelHealth, policy: BreakerPolicy = DEFAULT_POLICY) -> datetime | None:
    """When an OPEN circuit may send its next probe, for the scheduler's timer. None when
    CLOSED (nothing is held) or while a probe is in flight (its result decides)."""
    if health.opened_at is None or health.probe_in_flight:
        return None
    return health.opened_at + policy.probe_interval
