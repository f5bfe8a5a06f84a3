"""The webhook log's record of one attempt, built from the delivery, the attempt's outcome, the
decision taken on it and the time it began: a pure function, tested without a server, a store
or a clock."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from deskhook.delivery.attempt import build_attempt
from deskhook.domain.delivery import Attempt, AttemptOutcome, DueDelivery, webhook_id
from deskhook.domain.events import EventType
from deskhook.domain.responses import FailureReason, HttpResponse
from deskhook.domain.retry import Decision, Verdict

STARTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RETRY_AT = STARTED + timedelta(minutes=5)
DELIVERY = DueDelivery(
    delivery_id=7,
    channel_id="crm",
    event_id="evt-1",
    event_type=EventType.TICKET_CREATE,
    ticket_id=42,
    ticket_number="T-42",
    account_id="acme",
    attempts=2,
    payload=b"\x08\x01",
)


def answered(status: int, body: str = "") -> HttpResponse:
    failure = None if 200 <= status < 300 else FailureReason.HTTP_STATUS
    error = "" if failure is None else f"the receiver answered HTTP {status}"
    return HttpResponse(status, body, failure, error, 0.25, None)


INTERNAL = HttpResponse.internal("deskhook could not make the request (KeyError)", 0.002)
TIMED_OUT = HttpResponse(0, "", FailureReason.TIMEOUT, "no answer within 10 s", 10.0, None)
DELIVERED = Decision(Verdict.DELIVERED, None, "")
RETRY = Decision(Verdict.RETRY, RETRY_AT, "attempt 3 of 6 failed; next at 12:05")


@pytest.mark.parametrize(
    ("outcome", "decision", "logged_as"),
    [
        pytest.param(
            answered(204),
            DELIVERED,
            AttemptOutcome.DELIVERED,
            id="delivered",
        ),
        pytest.param(
            answered(503, "busy"),
            RETRY,
            AttemptOutcome.RETRY_SCHEDULED,
            id="retry-scheduled",
        ),
        pytest.param(
            TIMED_OUT,
            RETRY,
            AttemptOutcome.RETRY_SCHEDULED,
            id="unanswered-retry",
        ),
        pytest.param(
            answered(500),
            Decision(Verdict.GIVE_UP, None, "gave up after 3 attempts"),
            AttemptOutcome.GIVEN_UP,
            id="given-up",
        ),
        pytest.param(
            answered(410, "gone"),
            Decision(Verdict.DISABLE_CHANNEL, None, "the receiver answered 410 Gone"),
            AttemptOutcome.GIVEN_UP,
            id="gone-disables",
        ),
        pytest.param(
            INTERNAL,
            RETRY,
            AttemptOutcome.RETRY_SCHEDULED,
            id="internal-failure",
        ),
        pytest.param(
            answered(302),
            RETRY,
            AttemptOutcome.RETRY_SCHEDULED,
            id="redirect-not-followed",
        ),
    ],
)
def test_the_record_is_the_delivery_the_outcome_and_the_decision(
    outcome: HttpResponse, decision: Decision, logged_as: AttemptOutcome
) -> None:
    record = build_attempt(DELIVERY, outcome, decision, attempted_at=STARTED)
    assert record == Attempt(
        delivery_id=7,
        channel_id="crm",
        event_id="evt-1",
        event_type=EventType.TICKET_CREATE,
        ticket_id=42,
        ticket_number="T-42",
        account_id="acme",
        # Two were made before: this is the third.
        attempt=3,
        http_status=outcome.http_status,
        response_body=outcome.response_body,
        outcome=logged_as,
        attempted_at=STARTED,
        duration=timedelta(seconds=outcome.duration),
        error=outcome.error,
        failure=outcome.failure,
        webhook_id=webhook_id("crm", "evt-1"),
        next_attempt_at=decision.next_attempt_at,
        # The store gives the id when it logs the record.
        id=0,
    )


def test_every_attempt_of_one_event_on_one_channel_has_one_webhook_id() -> None:
    retried = Decision(Verdict.RETRY, RETRY_AT, "attempt 1 of 6 failed")
    first = build_attempt(
        replace(DELIVERY, attempts=0), answered(500), retried, attempted_at=STARTED
    )
    later = build_attempt(DELIVERY, answered(204), DELIVERED, attempted_at=RETRY_AT)
    other_channel = build_attempt(
        replace(DELIVERY, channel_id="billing"),
        answered(204),
        DELIVERED,
        attempted_at=STARTED,
    )
    assert (first.attempt, later.attempt) == (1, 3)
    assert first.webhook_id == later.webhook_id != other_channel.webhook_id
