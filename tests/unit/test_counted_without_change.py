"""When recording a batch of results may leave a channel's stored health alone (docs/design.md
§5.9): only successes of a closed circuit without failures, each within the resolution of the
stored last success; anything else is written."""

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from deskhook.domain.breaker import ChannelHealth, CircuitState
from deskhook.domain.delivery import Attempt, AttemptOutcome, DueDelivery
from deskhook.domain.events import EventType
from deskhook.domain.responses import FailureReason
from deskhook.store.shared_limits import counted_without_change
from tests.support.store_items import NOW, attempt

MINUTE = timedelta(minutes=1)
HEALTHY = ChannelHealth(last_success_time=NOW)
DUE = DueDelivery(1, "ch", "evt-1", EventType.TICKET_CREATE, 1, "T-1", "", 0, b"")


def succeeded(at: datetime) -> tuple[Attempt, datetime]:
    return attempt(DUE, AttemptOutcome.DELIVERED, at)


def our_fault(at: datetime) -> tuple[Attempt, datetime]:
    """An attempt that failed on deskhook's side: it says nothing of the receiver."""
    record, _ = attempt(DUE, AttemptOutcome.RETRY_SCHEDULED, at, next_attempt_at=at)
    return replace(record, failure=FailureReason.INTERNAL, http_status=0), at


def test_successes_within_the_resolution_change_nothing() -> None:
    results = [succeeded(NOW + timedelta(seconds=s)) for s in (0, 30, 59)]
    assert counted_without_change(HEALTHY, results, MINUTE)
    # A failure of deskhook's own is not counted into health at all.
    assert counted_without_change(HEALTHY, [*results, our_fault(NOW + MINUTE * 5)], MINUTE)


@pytest.mark.parametrize(
    ("stored", "results"),
    [
        pytest.param(HEALTHY, [succeeded(NOW + MINUTE)], id="a success a resolution later"),
        pytest.param(
            HEALTHY,
            [succeeded(NOW), attempt(DUE, AttemptOutcome.RETRY_SCHEDULED, NOW, NOW)],
            id="a failure",
        ),
        pytest.param(None, [succeeded(NOW)], id="health never read"),
        pytest.param(ChannelHealth(), [succeeded(NOW)], id="no success stored yet"),
        pytest.param(
            replace(HEALTHY, consecutive_failures=1, failing_since=NOW),
            [succeeded(NOW)],
            id="failing before",
        ),
        pytest.param(
            ChannelHealth(state=CircuitState.OPEN, consecutive_failures=5, opened_at=NOW),
            [succeeded(NOW)],
            id="an open circuit's probe",
        ),
    ],
)
def test_anything_else_is_written(
    stored: ChannelHealth | None, results: list[tuple[Attempt, datetime]]
) -> None:
    assert not counted_without_change(stored, results, MINUTE)
