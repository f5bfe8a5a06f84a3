"""Conversions between database rows and domain objects, shared by both stores: their tables
have the same columns. Times are stored as integer microseconds since the Unix epoch
(`deskhook.domain.times`)."""

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from deskhook.domain.breaker import ChannelHealth, CircuitState
from deskhook.domain.channel_spec import (
    Channel,
    ChannelSpec,
    ConnectionState,
    ConnectionStatus,
    Ordering,
)
from deskhook.domain.delivery import Attempt, AttemptOutcome
from deskhook.domain.events import EventType
from deskhook.domain.responses import FailureReason
from deskhook.domain.signing import SigningSecret
from deskhook.domain.times import from_micros, to_micros
from deskhook.store.base import CreateRequest


class Row(Protocol):
    """A result row read by column name: `sqlite3.Row` or `asyncpg.Record`."""

    def __getitem__(self, key: str, /) -> Any: ...


CHANNEL_COLUMNS = (
    "id, name, url, department_id, subscriptions, retries_enabled, retry_schedule, enabled, "
    "disabled_reason, ordering, max_concurrency, rate_limit_per_second, connection_state, "
    "connection_message, connection_http_status, connection_failure_reason, "
    "connection_checked_at, create_time, update_time, account_id"
)


def channel_values(channel: Channel) -> dict[str, object]:
    """Named parameters for CHANNEL_COLUMNS."""
    spec = channel.spec
    return {
        "id": channel.id,
        "name": spec.name,
        "url": spec.url,
        "department_id": spec.department_id,
        "subscriptions": json.dumps([event_type.value for event_type in spec.subscriptions]),
        "retries_enabled": spec.retries_enabled,
        "retry_schedule": json.dumps([delay.total_seconds() for delay in spec.retry_schedule])
        if spec.retry_schedule
        else None,
        "enabled": spec.enabled,
        "disabled_reason": channel.disabled_reason,
        "ordering": spec.ordering.value,
        "max_concurrency": spec.max_concurrency,
        "rate_limit_per_second": spec.rate_limit_per_second,
        **status_values(channel.connection),
        "create_time": to_micros(channel.create_time),
        "update_time": to_micros(channel.update_time),
        "account_id": channel.account_id,
    }


def changed_values(channel: Channel) -> dict[str, object]:
    """Named parameters for the columns of CHANNEL_COLUMNS an update sets: a channel's id and
    account never change."""
    values = channel_values(channel)
    del values["id"], values["account_id"]
    return values


def created_channel_values(channel: Channel, request: CreateRequest | None) -> dict[str, object]:
    """Named parameters for a new channel's row: CHANNEL_COLUMNS and the create request it
    answers, if any."""
    return {
        **channel_values(channel),
        "create_request_id": request.request_id if request else None,
        "create_request_hash": request.request_hash if request else None,
    }


def status_values(status: ConnectionStatus) -> dict[str, object]:
    return {
        "connection_state": status.state.value,
        "connection_message": status.message,
        "connection_http_status": status.http_status,
        "connection_failure_reason": status.failure.value if status.failure else "",
        "connection_checked_at": to_micros(status.checked_at) if status.checked_at else None,
    }


def channel_from_row(row: Row) -> Channel:
    return Channel(
        id=row["id"],
        spec=ChannelSpec(
            name=row["name"],
            url=row["url"],
            department_id=row["department_id"],
            subscriptions=tuple(EventType(name) for name in json.loads(row["subscriptions"])),
            retries_enabled=bool(row["retries_enabled"]),
            retry_schedule=tuple(
                timedelta(seconds=seconds) for seconds in json.loads(row["retry_schedule"] or "[]")
            ),
            enabled=bool(row["enabled"]),
            ordering=Ordering(row["ordering"]),
            max_concurrency=row["max_concurrency"],
            rate_limit_per_second=row["rate_limit_per_second"],
        ),
        create_time=from_micros(row["create_time"]),
        update_time=from_micros(row["update_time"]),
        connection=ConnectionStatus(
            state=ConnectionState(row["connection_state"]),
            message=row["connection_message"],
            http_status=row["connection_http_status"],
            checked_at=from_micros(row["connection_checked_at"])
            if row["connection_checked_at"] is not None
            else None,
            failure=FailureReason(row["connection_failure_reason"])
            if row["connection_failure_reason"]
            else None,
        ),
        disabled_reason=row["disabled_reason"],
        account_id=row["account_id"],
    )


HEALTH_COLUMNS = "consecutive_failures, failing_since, last_success_time, opened_at"


def health_values(health: ChannelHealth) -> tuple[object, ...]:
    """Parameters for HEALTH_COLUMNS, in order."""
    return (
        health.consecutive_failures,
        optional_micros(health.failing_since),
        optional_micros(health.last_success_time),
        optional_micros(health.opened_at),
    )


def health_from_row(row: Row) -> ChannelHealth:
    """A channel's stored health. The circuit is open exactly while `opened_at` is set; a probe
    in flight is not stored, it is the channel's lease."""
    opened_at = _moment(row["opened_at"])
    return ChannelHealth(
        state=CircuitState.CLOSED if opened_at is None else CircuitState.OPEN,
        consecutive_failures=row["consecutive_failures"],
        failing_since=_moment(row["failing_since"]),
        last_success_time=_moment(row["last_success_time"]),
        opened_at=opened_at,
    )


def optional_micros(moment: datetime | None) -> int | None:
    return to_micros(moment) if moment is not None else None


def _moment(micros: int | None) -> datetime | None:
    return from_micros(micros) if micros is not None else None


def signing_secrets_from_rows(rows: Iterable[Row]) -> list[SigningSecret]:
    return [SigningSecret(row["secret"], _moment(row["expire_time"])) for row in rows]


def redeliver_scope(event_id: str | None, target: str, channel: str) -> str:
    """Which of a channel's deliveries Redeliver schedules again: the one of event `event_id`,
    or else those given up since a time. `target` is the placeholder bound to
    `redeliver_target`, `channel` the one bound to the channel's id."""
    if event_id is not None:
        # The event of that id in the channel's account: found by its key, (account_id,
        # event_id), where the event id alone would read every event of every account.
        return (
            "event_seq = (SELECT seq FROM events WHERE event_id = "
            f"{target} AND account_id = (SELECT account_id FROM channels WHERE id = {channel}))"
        )
    return f"state = 'given_up' AND finished_at >= {target}"


def redeliver_target(event_id: str | None, failed_since: datetime | None) -> str | int | None:
    return event_id if event_id is not None else optional_micros(failed_since)


# What each attempt outcome leaves its delivery as.
DELIVERY_STATES = {
    AttemptOutcome.DELIVERED: "delivered",
    AttemptOutcome.GIVEN_UP: "given_up",
    AttemptOutcome.RETRY_SCHEDULED: "pending",
}

ATTEMPT_COLUMNS = (
    "delivery_id, channel_id, event_id, event_type, ticket_id, ticket_number, attempt,"
    " http_status, response_body, outcome, attempted_at, duration_us, error, failure_reason,"
    " webhook_id, next_attempt_at, account_id"
)


def attempt_values(record: Attempt) -> tuple[object, ...]:
    """Parameters for ATTEMPT_COLUMNS, in order."""
    return (
        record.delivery_id,
        record.channel_id,
        record.event_id,
        record.event_type.value,
        record.ticket_id,
        record.ticket_number,
        record.attempt,
        record.http_status,
        record.response_body,
        record.outcome.value,
        to_micros(record.attempted_at),
        record.duration // timedelta(microseconds=1),
        record.error,
        record.failure.value if record.failure else "",
        record.webhook_id,
        to_micros(record.next_attempt_at) if record.next_attempt_at else None,
        record.account_id,
    )


def attempt_from_row(row: Row) -> Attempt:
    return Attempt(
        id=row["id"],
        delivery_id=row["delivery_id"],
        channel_id=row["channel_id"],
        event_id=row["event_id"],
        event_type=EventType(row["event_type"]),
        ticket_id=row["ticket_id"],
        ticket_number=row["ticket_number"],
        account_id=row["account_id"],
        attempt=row["attempt"],
        http_status=row["http_status"],
        response_body=row["response_body"],
        outcome=AttemptOutcome(row["outcome"]),
        attempted_at=from_micros(row["attempted_at"]),
        duration=timedelta(microseconds=row["duration_us"]),
        error=row["error"],
        failure=FailureReason(row["failure_reason"]) if row["failure_reason"] else None,
        webhook_id=row["webhook_id"],
        next_attempt_at=from_micros(row["next_attempt_at"])
        if row["next_attempt_at"] is not None
        else None,
    )
