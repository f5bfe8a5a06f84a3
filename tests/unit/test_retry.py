"""The retry decision: 2xx is delivered, 410 disables the channel, every other failure is
retried on the channel's schedule (±20 % jitter) while retries are on and attempts remain, and a
Retry-After on 429/503 lengthens the wait, bounded, but never shortens it or adds attempts."""

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from deskhook.domain.responses import FailureReason, HttpResponse
from deskhook.domain.retry import (
    DEFAULT_SCHEDULE,
    MAX_RETRY_AFTER,
    Decision,
    Verdict,
    decide,
    parse_retry_after,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
JUST_BELOW_ONE = math.nextafter(1.0, 0.0)
GONE_REASON = "the receiver answered 410 Gone: it takes no more webhooks on this channel"
RETRIES_OFF = Decision(Verdict.GIVE_UP, None, "gave up after 1 attempt: retries are off")
DELIVERED = Decision(Verdict.DELIVERED, None, "")


def answered(status: int, retry_after: str | None = None) -> HttpResponse:
    """An answer as the HTTP client reports it: only a 2xx is without a failure."""
    failure = None if 200 <= status < 300 else FailureReason.HTTP_STATUS
    error = "" if failure is None else f"the receiver answered HTTP {status}"
    return HttpResponse(status, "", failure, error, 0.1, retry_after)


def unanswered(reason: FailureReason) -> HttpResponse:
    return HttpResponse(0, "", reason, f"no answer: {reason}", 0.1, None)


def decide_on(
    outcome: HttpResponse,
    *,
    attempt: int = 1,
    retries_enabled: bool = True,
    schedule: tuple[timedelta, ...] = (),
    jitter: float = 0.5,
) -> Decision:
    """`decide` with retries on, the default schedule and a jitter of 0.5 (no shift) unless a
    test says else."""
    return decide(
        outcome,
        attempt=attempt,
        retries_enabled=retries_enabled,
        schedule=schedule,
        now=NOW,
        jitter=jitter,
    )


def wait_of(decision: Decision) -> timedelta | None:
    return None if decision.next_attempt_at is None else decision.next_attempt_at - NOW


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        pytest.param(
            1,
            Decision(
                Verdict.RETRY,
                NOW + timedelta(seconds=5),
                "attempt 1 of 8 failed; next at 2026-01-01T00:00:05+00:00",
            ),
            id="1-then-5s",
        ),
        pytest.param(
            2,
            Decision(
                Verdict.RETRY,
                NOW + timedelta(minutes=5),
                "attempt 2 of 8 failed; next at 2026-01-01T00:05:00+00:00",
            ),
            id="2-then-5min",
        ),
        pytest.param(
            3,
            Decision(
                Verdict.RETRY,
                NOW + timedelta(minutes=30),
                "attempt 3 of 8 failed; next at 2026-01-01T00:30:00+00:00",
            ),
            id="3-then-30min",
        ),
        pytest.param(
            4,
            Decision(
                Verdict.RETRY,
                NOW + timedelta(hours=2),
                "attempt 4 of 8 failed; next at 2026-01-01T02:00:00+00:00",
            ),
            id="4-then-2h",
        ),
        pytest.param(
            5,
            Decision(
                Verdict.RETRY,
                NOW + timedelta(hours=5),
                "attempt 5 of 8 failed; next at 2026-01-01T05:00:00+00:00",
            ),
            id="5-then-5h",
        ),
        pytest.param(
            6,
            Decision(
                Verdict.RETRY,
                NOW + timedelta(hours=10),
                "attempt 6 of 8 failed; next at 2026-01-01T10:00:00+00:00",
            ),
            id="6-then-10h",
        ),
        pytest.param(
            7,
            Decision(
                Verdict.RETRY,
                NOW + timedelta(hours=10),
                "attempt 7 of 8 failed; next at 2026-01-01T10:00:00+00:00",
            ),
            id="7-then-10h",
        ),
        pytest.param(
            8, Decision(Verdict.GIVE_UP, None, "gave up after 8 attempts"), id="8-gives-up"
        ),
        pytest.param(
            9, Decision(Verdict.GIVE_UP, None, "gave up after 8 attempts"), id="past-the-end"
        ),
    ],
)
def test_default_schedule_at_every_attempt(attempt: int, expected: Decision) -> None:
    assert decide_on(answered(500), attempt=attempt) == expected


def test_default_schedule_spans_about_27_hours() -> None:
    assert sum(DEFAULT_SCHEDULE, timedelta()) == timedelta(hours=27, minutes=35, seconds=5)


@pytest.mark.parametrize(
    ("schedule", "attempt", "expected"),
    [
        pytest.param(
            (timedelta(minutes=1), timedelta(minutes=2)),
            1,
            Decision(
                Verdict.RETRY,
                NOW + timedelta(minutes=1),
                "attempt 1 of 3 failed; next at 2026-01-01T00:01:00+00:00",
            ),
            id="two-delays-first",
        ),
        pytest.param(
            (timedelta(minutes=1), timedelta(minutes=2)),
            2,
            Decision(
                Verdict.RETRY,
                NOW + timedelta(minutes=2),
                "attempt 2 of 3 failed; next at 2026-01-01T00:02:00+00:00",
            ),
            id="two-delays-second",
        ),
        pytest.param(
            (timedelta(minutes=1), timedelta(minutes=2)),
            3,
            Decision(Verdict.GIVE_UP, None, "gave up after 3 attempts"),
            id="two-delays-exhausted",
        ),
        pytest.param(
            (timedelta(hours=24),),
            1,
            Decision(
                Verdict.RETRY,
                NOW + timedelta(hours=24),
                "attempt 1 of 2 failed; next at 2026-01-02T00:00:00+00:00",
            ),
            id="one-delay-first",
        ),
        pytest.param(
            (timedelta(hours=24),),
            2,
            Decision(Verdict.GIVE_UP, None, "gave up after 2 attempts"),
            id="one-delay-exhausted",
        ),
    ],
)
def test_custom_schedule(schedule: tuple[timedelta, ...], attempt: int, expected: Decision) -> None:
    assert decide_on(answered(500), attempt=attempt, schedule=schedule) == expected


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(answered(500), RETRIES_OFF, id="500"),
        pytest.param(answered(302), RETRIES_OFF, id="302"),
        pytest.param(unanswered(FailureReason.TIMEOUT), RETRIES_OFF, id="timeout"),
        pytest.param(answered(429, "5"), RETRIES_OFF, id="429-with-retry-after"),
        pytest.param(answered(200), DELIVERED, id="200-still-delivered"),
        pytest.param(
            answered(410), Decision(Verdict.DISABLE_CHANNEL, None, GONE_REASON), id="410-disables"
        ),
    ],
)
def test_retries_off_gives_up_after_one_attempt(outcome: HttpResponse, expected: Decision) -> None:
    assert decide_on(outcome, retries_enabled=False) == expected


@pytest.mark.parametrize(
    ("attempt", "jitter", "wait"),
    [
        pytest.param(1, 0.0, timedelta(seconds=4), id="5s-at-0-is-minus-20pc"),
        pytest.param(1, 0.25, timedelta(seconds=4.5), id="5s-at-0.25"),
        pytest.param(1, 0.5, timedelta(seconds=5), id="5s-at-0.5-is-exact"),
        pytest.param(1, 0.75, timedelta(seconds=5.5), id="5s-at-0.75"),
        pytest.param(1, 0.999999, timedelta(seconds=5.999998), id="5s-at-0.999999"),
        pytest.param(1, JUST_BELOW_ONE, timedelta(seconds=6), id="5s-just-below-1-is-plus-20pc"),
        pytest.param(6, 0.0, timedelta(hours=8), id="10h-at-0-is-minus-20pc"),
        pytest.param(6, 0.75, timedelta(hours=11), id="10h-at-0.75"),
        pytest.param(6, JUST_BELOW_ONE, timedelta(hours=12), id="10h-just-below-1-is-plus-20pc"),
    ],
)
def test_jitter_moves_the_delay_up_to_20_percent(
    attempt: int, jitter: float, wait: timedelta
) -> None:
    decision = decide_on(answered(500), attempt=attempt, jitter=jitter)
    assert (decision.verdict, wait_of(decision)) == (Verdict.RETRY, wait)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    assert decide_on(answered(status)) == DELIVERED


@pytest.mark.parametrize(
    "outcome",
    [
        pytest.param(answered(status), id=str(status))
        for status in (300, 301, 302, 304, 400, 404, 408, 429, 500, 503, 599)
    ]
    + [pytest.param(unanswered(reason), id=str(reason)) for reason in FailureReason]
    + [
        pytest.param(
            HttpResponse(200, "", FailureReason.TIMEOUT, "body read timed out", 15.0, None),
            id="2xx-whose-body-read-timed-out",
        ),
        pytest.param(
            HttpResponse(500, "", None, "", 0.1, None), id="non-2xx-without-a-failure-reason"
        ),
    ],
)
def test_every_other_failure_is_retried(outcome: HttpResponse) -> None:
    decision = decide_on(outcome)
    assert (decision.verdict, wait_of(decision)) == (Verdict.RETRY, timedelta(seconds=5))


@pytest.mark.parametrize(
    ("attempt", "retries_enabled", "retry_after"),
    [
        pytest.param(1, True, None, id="first-attempt"),
        pytest.param(8, True, None, id="last-attempt"),
        pytest.param(1, False, None, id="retries-off"),
        pytest.param(1, True, "120", id="with-retry-after"),
    ],
)
def test_410_disables_the_channel(
    attempt: int, retries_enabled: bool, retry_after: str | None
) -> None:
    decision = decide_on(
        answered(410, retry_after), attempt=attempt, retries_enabled=retries_enabled
    )
    assert decision == Decision(Verdict.DISABLE_CHANNEL, None, GONE_REASON)


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        pytest.param(None, NOW, None, id="absent"),
        pytest.param("", NOW, None, id="empty"),
        pytest.param("120", NOW, timedelta(seconds=120), id="seconds"),
        pytest.param(" 120 ", NOW, timedelta(seconds=120), id="seconds-with-spaces"),
        pytest.param("0", NOW, timedelta(0), id="zero-seconds"),
        pytest.param("007", NOW, timedelta(seconds=7), id="leading-zeros"),
        pytest.param("86400", NOW, MAX_RETRY_AFTER, id="seconds-at-the-bound"),
        pytest.param("86401", NOW, MAX_RETRY_AFTER, id="seconds-above-the-bound"),
        pytest.param("99999999999999999999", NOW, MAX_RETRY_AFTER, id="seconds-huge"),
        pytest.param("9" * 5000, NOW, MAX_RETRY_AFTER, id="seconds-beyond-int-parsing"),
        pytest.param("0" * 5000 + "7", NOW, timedelta(seconds=7), id="many-leading-zeros"),
        pytest.param("-5", NOW, None, id="negative"),
        pytest.param("+5", NOW, None, id="signed"),
        pytest.param("1.5", NOW, None, id="fraction"),
        pytest.param("\u0661\u0662\u0660", NOW, None, id="non-ascii-digits"),
        pytest.param("\u00b2", NOW, None, id="superscript-digit"),
        pytest.param("soon", NOW, None, id="garbage"),
        pytest.param(
            "Thu, 01 Jan 2026 00:02:00 GMT", NOW, timedelta(seconds=120), id="imf-fixdate"
        ),
        pytest.param(
            "Thursday, 01-Jan-26 00:02:00 GMT", NOW, timedelta(seconds=120), id="rfc850-date"
        ),
        pytest.param("Thu Jan  1 00:02:00 2026", NOW, timedelta(seconds=120), id="asctime-date"),
        pytest.param(
            "Thu, 01 Jan 2026 00:02:00 GMT",
            datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
            timedelta(seconds=120),
            id="date-with-now-in-another-zone",
        ),
        pytest.param("Thu, 01 Jan 2026 00:00:00 GMT", NOW, timedelta(0), id="date-now"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 GMT", NOW, timedelta(0), id="date-in-the-past"),
        pytest.param("Sat, 03 Jan 2026 00:00:00 GMT", NOW, MAX_RETRY_AFTER, id="date-2-days-on"),
        pytest.param("Fri, 31 Dec 9999 23:59:59 GMT", NOW, MAX_RETRY_AFTER, id="date-far-on"),
        pytest.param("Thu, 32 Jan 2026 00:00:00 GMT", NOW, None, id="date-impossible"),
    ],
)
def test_parse_retry_after(value: str | None, now: datetime, expected: timedelta | None) -> None:
    assert parse_retry_after(value, now) == expected


RETRY_AFTER_REASON = (
    "attempt 1 of 8 failed, waiting as its Retry-After asked; next at 2026-01-01T00:02:00+00:00"
)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        pytest.param(
            429,
            "120",
            Decision(Verdict.RETRY, NOW + timedelta(seconds=120), RETRY_AFTER_REASON),
            id="429-seconds",
        ),
        pytest.param(
            503,
            "120",
            Decision(Verdict.RETRY, NOW + timedelta(seconds=120), RETRY_AFTER_REASON),
            id="503-seconds",
        ),
        pytest.param(
            503,
            "Thu, 01 Jan 2026 00:02:00 GMT",
            Decision(Verdict.RETRY, NOW + timedelta(seconds=120), RETRY_AFTER_REASON),
            id="503-date",
        ),
    ],
)
def test_retry_after_on_429_and_503_lengthens_the_wait(
    status: int, retry_after: str, expected: Decision
) -> None:
    assert decide_on(answered(status, retry_after)) == expected


@pytest.mark.parametrize(
    ("status", "retry_after", "attempt", "jitter", "wait"),
    [
        pytest.param(429, "3600", 3, 0.5, timedelta(hours=1), id="longer-than-30min-step"),
        pytest.param(429, "3600", 4, 0.5, timedelta(hours=2), id="shorter-than-2h-step"),
        pytest.param(429, "1", 1, 0.5, timedelta(seconds=5), id="shorter-than-5s-step"),
        pytest.param(429, "5", 1, 0.0, timedelta(seconds=5), id="beats-the-jittered-4s"),
        pytest.param(429, "4", 1, JUST_BELOW_ONE, timedelta(seconds=6), id="under-jittered-6s"),
        pytest.param(429, "999999999", 1, 0.5, MAX_RETRY_AFTER, id="huge-is-bounded"),
        pytest.param(
            503, "Fri, 31 Dec 9999 23:59:59 GMT", 1, 0.5, MAX_RETRY_AFTER, id="far-date-bounded"
        ),
        pytest.param(
            503, "Wed, 21 Oct 2015 07:28:00 GMT", 1, 0.5, timedelta(seconds=5), id="past-date"
        ),
        pytest.param(429, "soon", 1, 0.5, timedelta(seconds=5), id="garbage"),
        pytest.param(429, "-120", 1, 0.5, timedelta(seconds=5), id="negative"),
        pytest.param(500, "120", 1, 0.5, timedelta(seconds=5), id="ignored-on-500"),
        pytest.param(502, "120", 1, 0.5, timedelta(seconds=5), id="ignored-on-502"),
        pytest.param(400, "120", 1, 0.5, timedelta(seconds=5), id="ignored-on-400"),
        pytest.param(301, "120", 1, 0.5, timedelta(seconds=5), id="ignored-on-301"),
    ],
)
def test_retry_after_wait(
    status: int, retry_after: str, attempt: int, jitter: float, wait: timedelta
) -> None:
    decision = decide_on(answered(status, retry_after), attempt=attempt, jitter=jitter)
    assert (decision.verdict, wait_of(decision)) == (Verdict.RETRY, wait)


@pytest.mark.parametrize(
    ("status", "attempt", "schedule", "expected"),
    [
        pytest.param(429, 8, (), "gave up after 8 attempts", id="429-default-schedule"),
        pytest.param(503, 8, (), "gave up after 8 attempts", id="503-default-schedule"),
        pytest.param(
            429, 2, (timedelta(seconds=5),), "gave up after 2 attempts", id="429-custom-schedule"
        ),
    ],
)
def test_retry_after_adds_no_attempts(
    status: int, attempt: int, schedule: tuple[timedelta, ...], expected: str
) -> None:
    decision = decide_on(answered(status, "60"), attempt=attempt, schedule=schedule)
    assert decision == Decision(Verdict.GIVE_UP, None, expected)


@pytest.mark.parametrize(
    ("attempt", "jitter", "now", "message"),
    [
        pytest.param(0, 0.5, NOW, "attempt must be 1 or more, not 0", id="attempt-0"),
        pytest.param(1, -0.1, NOW, r"jitter must be in \[0, 1\), not -0.1", id="jitter-negative"),
        pytest.param(1, 1.0, NOW, r"jitter must be in \[0, 1\), not 1.0", id="jitter-1"),
        pytest.param(
            1, 0.5, NOW.replace(tzinfo=None), "now must be timezone-aware", id="naive-now"
        ),
    ],
)
def test_decide_refuses_bad_arguments(
    attempt: int, jitter: float, now: datetime, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        decide(
            answered(500),
            attempt=attempt,
            retries_enabled=True,
            schedule=(),
            now=now,
            jitter=jitter,
        )


def test_parse_retry_after_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", NOW.replace(tzinfo=None))
