"""What happens to a delivery after an attempt: delivered, retried later, given up, or its channel
disabled (docs/design.md §5.2, §5.3).

Pure: the clock (`now`) and the randomness behind the jitter are passed in, so every decision
can be replayed exactly."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from http import HTTPStatus

from deskhook.domain.responses import HttpResponse

# After the first, immediate attempt: 8 attempts over about 27 hours.
DEFAULT_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
# Spreads the retries of many deliveries that failed together, so a receiver coming back is
# not hit by all of them in the same second.
JITTER = 0.2
# A receiver cannot park a delivery for longer than this by asking to be left alone.
MAX_RETRY_AFTER = timedelta(hours=24)

_RETRY_AFTER_STATUSES = frozenset({HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE})
# int() refuses strings of more than 4300 digits; a number with more digits than the bound has
# is above the bound, whatever its digits.
_MAX_RETRY_AFTER_DIGITS = len(str(int(MAX_RETRY_AFTER.total_seconds())))


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"
    # The delivery is given up as well: its channel no longer takes any.
    DISABLE_CHANNEL = "disable_channel"


@dataclass(frozen=True)
class Decision:
    """`next_attempt_at` is set for RETRY only; `reason` is a sentence for the log and the
    channel's status, "" for DELIVERED."""

    verdict: Verdict
    next_attempt_at: datetime | None
    reason: str


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """The delay a `Retry-After` header asks for (RFC 9110 §10.2.3), at most MAX_RETRY_AFTER:
    delay-seconds ("120") or an HTTP-date in any of the three forms RFC 9110 has recipients
    accept. None when the header is absent or is neither; a date already past is no delay."""
    _require_aware(now)
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return _bounded_seconds(value)
    try:
        when = parsedate_to_datetime(value)
    except ValueError:
        return None
    # A date without a zone ("-0000", or the asctime form) is GMT, as every HTTP-date is.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


def decide(
    response: HttpResponse,
    *,
    attempt: int,
    retries_enabled: bool,
    schedule: Sequence[timedelta],
    now: datetime,
    jitter: float,
) -> Decision:
    """The verdict on attempt number `attempt` (1 is the first, immediate one) of a delivery.

    `schedule` holds the delays before attempts 2, 3, ...; empty means DEFAULT_SCHEDULE.
    `jitter` is a uniform random number in [0, 1) that moves the scheduled delay by up to
    ±JITTER of it."""
    _require_aware(now)
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, not {attempt}")
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter must be in [0, 1), not {jitter}")
    if _delivered(response):
        return Decision(Verdict.DELIVERED, None, "")
    # Gone is the receiver saying it wants no more of these, whatever else went wrong after
    # the status line.
    if response.http_status == HTTPStatus.GONE:
        return Decision(
            Verdict.DISABLE_CHANNEL,
            None,
            "the receiver answered 410 Gone: it takes no more webhooks on this channel",
        )
    if not retries_enabled:
        return Decision(Verdict.GIVE_UP, None, "gave up after 1 attempt: retries are off")
    delays = tuple(schedule) or DEFAULT_SCHEDULE
    total = len(delays) + 1
    if attempt >= total:
        return Decision(Verdict.GIVE_UP, None, f"gave up after {total} attempts")
    return _retry(response, attempt, total, now, _jittered(delays[attempt - 1], jitter))


def _delivered(response: HttpResponse) -> bool:
    # Both must hold: a 2xx whose body read then timed out is a failure to the client, and a
    # non-2xx without a failure is contradictory; at-least-once sends again rather than mark a
    # delivery done on mixed evidence.
    return response.succeeded and 200 <= response.http_status < 300


def _jittered(delay: timedelta, jitter: float) -> timedelta:
    return delay * (1 + JITTER * (2 * jitter - 1))


def _retry(
    response: HttpResponse, attempt: int, total: int, now: datetime, delay: timedelta
) -> Decision:
    reason = f"attempt {attempt} of {total} failed"
    asked = (
        parse_retry_after(response.retry_after, now)
        if response.http_status in _RETRY_AFTER_STATUSES
        else None
    )
    # Retry-After can only lengthen the wait: a receiver asking for less than the schedule
    # still gets the schedule's spacing.
    if asked is not None and asked > delay:
        delay = asked
        reason += ", waiting as its Retry-After asked"
    next_attempt_at = now + delay
    return Decision(
        Verdict.RETRY,
        next_attempt_at,
        f"{reason}; next at {next_attempt_at.isoformat(timespec='seconds')}",
    )


def _bounded_seconds(digits: str) -> timedelta:
    significant = digits.lstrip("0")
    if len(significant) > _MAX_RETRY_AFTER_DIGITS:
        return MAX_RETRY_AFTER
    return min(timedelta(seconds=int(significant or "0")), MAX_RETRY_AFTER)


def _require_aware(now: datetime) -> None:
    # A naive `now` would compare wrongly with HTTP-dates and store times without a zone.
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
