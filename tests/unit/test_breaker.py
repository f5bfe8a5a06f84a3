"""The circuit breaker opens after a run of consecutive failures, then lets one probe at a time
through once per interval; a success closes it and ends the run. A channel failing for 5 days
without a success is to be disabled."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from deskhook.domain.breaker import (
    DEFAULT_POLICY,
    BreakerPolicy,
    ChannelHealth,
    CircuitState,
    may_send,
    next_probe_at,
    record_failure,
    record_success,
    should_disable,
    start_probe,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MICROSECOND = timedelta(microseconds=1)
FRESH = ChannelHealth()
# Opened at T0 by five failures a second apart, the last at T0.
OPENED = ChannelHealth(
    state=CircuitState.OPEN,
    consecutive_failures=5,
    failing_since=T0 - 4 * SECOND,
    opened_at=T0,
)
PROBING = ChannelHealth(
    state=CircuitState.OPEN,
    consecutive_failures=5,
    failing_since=T0 - 4 * SECOND,
    opened_at=T0,
    probe_in_flight=True,
)


def failures(
    count: int, health: ChannelHealth = FRESH, policy: BreakerPolicy = DEFAULT_POLICY
) -> ChannelHealth:
    """`health` after `count` failures a second apart, the first at T0."""
    for index in range(count):
        health = record_failure(health, T0 + index * SECOND, policy)
    return health


@pytest.mark.parametrize(
    ("count", "policy", "expected"),
    [
        pytest.param(
            1,
            BreakerPolicy(),
            ChannelHealth(consecutive_failures=1, failing_since=T0),
            id="1-of-5-closed",
        ),
        pytest.param(
            4,
            BreakerPolicy(),
            ChannelHealth(consecutive_failures=4, failing_since=T0),
            id="4-of-5-closed",
        ),
        pytest.param(
            5,
            BreakerPolicy(),
            ChannelHealth(
                state=CircuitState.OPEN,
                consecutive_failures=5,
                failing_since=T0,
                opened_at=T0 + 4 * SECOND,
            ),
            id="5-of-5-opens",
        ),
        pytest.param(
            6,
            BreakerPolicy(),
            ChannelHealth(
                state=CircuitState.OPEN,
                consecutive_failures=6,
                failing_since=T0,
                opened_at=T0 + 5 * SECOND,
            ),
            id="6-stays-open",
        ),
        pytest.param(
            1,
            BreakerPolicy(failure_threshold=1),
            ChannelHealth(
                state=CircuitState.OPEN, consecutive_failures=1, failing_since=T0, opened_at=T0
            ),
            id="threshold-1-opens-at-once",
        ),
        pytest.param(
            5,
            BreakerPolicy(failure_threshold=6),
            ChannelHealth(consecutive_failures=5, failing_since=T0),
            id="threshold-6-not-yet",
        ),
    ],
)
def test_opens_exactly_at_the_threshold(
    count: int, policy: BreakerPolicy, expected: ChannelHealth
) -> None:
    assert failures(count, policy=policy) == expected


@pytest.mark.parametrize(
    ("health", "now", "allowed"),
    [
        pytest.param(ChannelHealth(), T0, True, id="closed"),
        pytest.param(failures(4), T0 + 4 * SECOND, True, id="closed-after-4-failures"),
        pytest.param(OPENED, T0, False, id="open-just-opened"),
        pytest.param(OPENED, T0 + 30 * SECOND - MICROSECOND, False, id="open-before-interval"),
        pytest.param(OPENED, T0 + 30 * SECOND, True, id="open-at-interval"),
        pytest.param(OPENED, T0 + timedelta(hours=1), True, id="open-long-after"),
        pytest.param(PROBING, T0 + 30 * SECOND, False, id="probe-in-flight"),
        pytest.param(PROBING, T0 + timedelta(hours=1), False, id="probe-in-flight-long-after"),
    ],
)
def test_may_send(health: ChannelHealth, now: datetime, allowed: bool) -> None:
    assert may_send(health, now) is allowed


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        pytest.param(ChannelHealth(), None, id="closed"),
        pytest.param(OPENED, T0 + 30 * SECOND, id="open"),
        pytest.param(PROBING, None, id="probe-in-flight"),
    ],
)
def test_next_probe_at(health: ChannelHealth, expected: datetime | None) -> None:
    assert next_probe_at(health) == expected


def test_probe_interval_comes_from_the_policy() -> None:
    policy = BreakerPolicy(probe_interval=timedelta(minutes=5))
    assert next_probe_at(OPENED, policy) == T0 + timedelta(minutes=5)
    assert may_send(OPENED, T0 + timedelta(minutes=5) - MICROSECOND, policy) is False
    assert may_send(OPENED, T0 + timedelta(minutes=5), policy) is True


def test_start_probe_lets_one_probe_at_a_time() -> None:
    probing = start_probe(OPENED, T0 + 30 * SECOND)
    assert probing == PROBING
    assert may_send(probing, T0 + timedelta(hours=1)) is False


def test_start_probe_leaves_a_closed_circuit_unchanged() -> None:
    health = failures(3)
    assert start_probe(health, T0 + 3 * SECOND) == health


def test_start_probe_marks_even_an_early_probe() -> None:
    """The circuit may have re-opened while the caller awaited; its probe is still counted."""
    assert start_probe(OPENED, T0) == PROBING


def test_start_probe_refuses_a_second_probe() -> None:
    with pytest.raises(ValueError, match="a probe is already in flight"):
        start_probe(PROBING, T0 + timedelta(hours=1))


@pytest.mark.parametrize(
    "health",
    [
        pytest.param(ChannelHealth(), id="fresh"),
        pytest.param(failures(3), id="closed-with-failures"),
        pytest.param(OPENED, id="open"),
        pytest.param(PROBING, id="probe-in-flight"),
        pytest.param(ChannelHealth(last_success_time=T0 - timedelta(days=1)), id="after-success"),
    ],
)
def test_success_closes_and_resets(health: ChannelHealth) -> None:
    now = T0 + timedelta(minutes=1)
    assert record_success(health, now) == ChannelHealth(last_success_time=now)


def test_after_a_success_the_count_starts_again() -> None:
    reset = record_success(failures(4), T0 + 4 * SECOND)
    assert failures(4, reset).state is CircuitState.CLOSED
    assert failures(5, reset).state is CircuitState.OPEN


@pytest.mark.parametrize(
    ("health", "policy"),
    [
        pytest.param(PROBING, DEFAULT_POLICY, id="failed-probe"),
        pytest.param(OPENED, DEFAULT_POLICY, id="late-failure"),
        # The threshold was raised by configuration while the circuit was open.
        pytest.param(PROBING, BreakerPolicy(failure_threshold=10), id="failed-probe-under-10"),
    ],
)
def test_failure_while_open_opens_afresh(health: ChannelHealth, policy: BreakerPolicy) -> None:
    failed_at = T0 + 31 * SECOND
    reopened = record_failure(health, failed_at, policy)
    assert reopened == ChannelHealth(
        state=CircuitState.OPEN,
        consecutive_failures=6,
        failing_since=T0 - 4 * SECOND,
        opened_at=failed_at,
    )
    assert next_probe_at(reopened) == failed_at + 30 * SECOND
    assert may_send(reopened, failed_at + 30 * SECOND - MICROSECOND) is False
    assert may_send(reopened, failed_at + 30 * SECOND) is True


DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("health", "now", "policy", "expected"),
    [
        pytest.param(ChannelHealth(), T0 + 10 * DAY, BreakerPolicy(), False, id="never-failed"),
        pytest.param(
            ChannelHealth(last_success_time=T0),
            T0 + 10 * DAY,
            BreakerPolicy(),
            False,
            id="last-result-a-success",
        ),
        pytest.param(
            failures(1), T0 + 5 * DAY - MICROSECOND, BreakerPolicy(), False, id="just-under-5-days"
        ),
        pytest.param(failures(1), T0 + 5 * DAY, BreakerPolicy(), True, id="5-days-closed"),
        pytest.param(failures(5), T0 + 6 * DAY, BreakerPolicy(), True, id="6-days-open"),
        pytest.param(
            failures(1, ChannelHealth(last_success_time=T0 - DAY)),
            T0 + 5 * DAY,
            BreakerPolicy(),
            True,
            id="success-before-the-run",
        ),
        pytest.param(
            failures(1, record_success(failures(1), T0 + 2 * DAY)),
            T0 + 5 * DAY,
            BreakerPolicy(),
            False,
            id="success-in-between",
        ),
        pytest.param(
            ChannelHealth(consecutive_failures=1, failing_since=T0, last_success_time=T0 + 2 * DAY),
            T0 + 5 * DAY,
            BreakerPolicy(),
            False,
            id="stored-success-after-the-run-began",
        ),
        pytest.param(
            ChannelHealth(consecutive_failures=1, failing_since=T0, last_success_time=T0),
            T0 + 5 * DAY,
            BreakerPolicy(),
            False,
            id="stored-success-as-the-run-began",
        ),
        pytest.param(
            failures(1),
            T0 + timedelta(hours=1),
            BreakerPolicy(disable_after=timedelta(hours=1)),
            True,
            id="custom-1-hour",
        ),
    ],
)
def test_should_disable(
    health: ChannelHealth, now: datetime, policy: BreakerPolicy, expected: bool
) -> None:
    assert should_disable(health, now, policy) is expected


def test_a_new_run_after_a_success_is_timed_from_its_own_start() -> None:
    """Fails at T0, succeeds on day 2, fails again on day 3: 5 days count from day 3."""
    run = record_failure(record_success(failures(1), T0 + 2 * DAY), T0 + 3 * DAY)
    assert should_disable(run, T0 + 8 * DAY - MICROSECOND) is False
    assert should_disable(run, T0 + 8 * DAY) is True


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: ChannelHealth(state=CircuitState.OPEN),
            "opened_at must be set exactly when the circuit is open",
            id="open-without-opened-at",
        ),
        pytest.param(
            lambda: ChannelHealth(opened_at=T0),
            "opened_at must be set exactly when the circuit is open",
            id="closed-with-opened-at",
        ),
        pytest.param(
            lambda: ChannelHealth(probe_in_flight=True),
            "a probe can be in flight only while the circuit is open",
            id="closed-with-probe",
        ),
        pytest.param(
            lambda: BreakerPolicy(failure_threshold=0),
            "failure_threshold must be 1 or more",
            id="threshold-0",
        ),
        pytest.param(
            lambda: BreakerPolicy(probe_interval=-SECOND),
            "probe_interval and disable_after must not be negative",
            id="negative-probe-interval",
        ),
        pytest.param(
            lambda: BreakerPolicy(disable_after=-SECOND),
            "probe_interval and disable_after must not be negative",
            id="negative-disable-after",
        ),
    ],
)
def test_inconsistent_health_or_policy_is_refused(
    build: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build()
