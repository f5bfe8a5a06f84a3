"""Conversions between the deskhook.v1 messages and the domain objects.

Enum values map by name: the proto's `EVENT_TYPE_TICKET_ANSWER` is the domain's
`ticket_answer` (and `EVENT_TYPE_CHANNEL_DISABLED` its `channel.disabled`), so neither side
keeps a table that could drift from the other."""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol, TypeVar

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from deskhook.domain.accounts import account_id_violation
from deskhook.domain.breaker import ChannelHealth
from deskhook.domain.channel_spec import (
    IMMUTABLE_PATHS,
    OUTPUT_ONLY_PATHS,
    Channel,
    ChannelSpec,
    ConnectionState,
    ConnectionStatus,
    Ordering,
)
from deskhook.domain.delivery import Attempt, AttemptOutcome
from deskhook.domain.errors import InvalidArgument
from deskhook.domain.events import EventType
from deskhook.domain.responses import FailureReason
from deskhook.v1 import channel_pb2, event_pb2


def _proto_name(prefix: str, value: StrEnum) -> str:
    return f"{prefix}_{value.value.upper()}"


E = TypeVar("E", bound=StrEnum)


def _from_proto(wrapper: Any, enum: type[E], prefix: str, number: int) -> E | None:
    """The domain member for a proto enum number, or None (UNSPECIFIED or unknown)."""
    known = number in wrapper.values()
    return _domain_value(enum, prefix, wrapper.Name(number)) if known else None


def _domain_value(enum: type[E], prefix: str, name: str) -> E | None:
    """The domain member for a proto enum value name, or None (UNSPECIFIED or unknown)."""
    try:
        return enum(name.removeprefix(f"{prefix}_").lower())
    except ValueError:
        return None


# An operational type's wire name has a dot where its proto name has an underscore:
# `channel.disabled` is EVENT_TYPE_CHANNEL_DISABLED. Built from the domain's types, so one
# missing from the proto fails at import.
_EVENT_TYPE_NUMBERS: dict[EventType, event_pb2.EventType.ValueType] = {
    value: event_pb2.EventType.Value("EVENT_TYPE_" + value.value.replace(".", "_").upper())
    for value in EventType
}
_EVENT_TYPES: dict[int, EventType] = {
    number: value for value, number in _EVENT_TYPE_NUMBERS.items()
}


def event_type_from_proto(number: int, field: str) -> EventType:
    # A dict lookup: this runs for every ingested event.
    value = _EVENT_TYPES.get(number)
    if value is None:
        raise InvalidArgument.field(field, f"{number} is not a known event type")
    return value


def event_type_to_proto(value: EventType) -> event_pb2.EventType.ValueType:
    return _EVENT_TYPE_NUMBERS[value]


def ordering_from_proto(number: int) -> Ordering:
    if number == channel_pb2.ORDERING_UNSPECIFIED:
        return Ordering.UNORDERED
    value = _from_proto(channel_pb2.Ordering, Ordering, "ORDERING", number)
    if value is None:
        raise InvalidArgument.field("channel.ordering", f"{number} is not an ordering")
    return value


def timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    message = Timestamp()
    message.FromDatetime(moment)
    return message


def duration(delta: timedelta) -> Duration:
    message = Duration()
    message.FromTimedelta(delta)
    return message


def datetime_from_proto(stamp: Timestamp, field: str) -> datetime:
    """`stamp` as an aware datetime, or INVALID_ARGUMENT naming `field` when no datetime can
    hold it (outside the years 1 to 9999, or nanos out of range)."""
    try:
        return stamp.ToDatetime(UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument.field(field, "must be a time within the years 1 to 9999") from None


def timedelta_from_proto(delta: Duration, field: str) -> timedelta:
    """`delta` as a timedelta, or INVALID_ARGUMENT naming `field` when it is not a valid
    Duration (nanos past a second, or of the other sign than seconds) or none can hold it."""
    seconds, nanos = delta.seconds, delta.nanos
    if abs(nanos) >= 1_000_000_000 or seconds * nanos < 0:
        raise InvalidArgument.field(
            f"{field}.nanos", "must be within ±999,999,999 and of the sign of seconds"
        )
    try:
        return delta.ToTimedelta()
    except (ValueError, OverflowError):
        raise InvalidArgument.field(field, "is out of range") from None


def spec_from_proto(message: channel_pb2.Channel) -> ChannelSpec:
    """Every admin-settable field of `message`, defaults where unset."""
    return ChannelSpec(
        name=message.name,
        url=message.url,
        department_id=message.department_id,
        subscriptions=tuple(
            event_type_from_proto(number, f"channel.subscriptions[{index}]")
            for index, number in enumerate(message.subscriptions)
        ),
        retries_enabled=message.retries_enabled,
        retry_schedule=tuple(
            timedelta_from_proto(delay, f"channel.retry_schedule[{index}]")
            for index, delay in enumerate(message.retry_schedule)
        ),
        enabled=message.enabled if message.HasField("enabled") else True,
        ordering=ordering_from_proto(message.ordering),
        max_concurrency=message.max_concurrency,
        rate_limit_per_second=message.rate_limit_per_second,
    )


def populated_paths(message: Message) -> list[str]:
    """AIP-134: without an update mask, the fields that are set are the ones to change.
    `id` names the channel, output-only fields are ignored, and immutable ones are checked
    against the channel instead (AIP-203)."""
    return [
        descriptor.name
        for descriptor, _ in message.ListFields()
        if descriptor.name != "id"
        and descriptor.name not in OUTPUT_ONLY_PATHS
        and descriptor.name not in IMMUTABLE_PATHS
    ]


def failure_to_proto(failure: FailureReason | None) -> channel_pb2.FailureReason.ValueType:
    if failure is None:
        return channel_pb2.FAILURE_REASON_UNSPECIFIED
    return channel_pb2.FailureReason.Value(_proto_name("FAILURE_REASON", failure))


def connection_status_to_proto(status: ConnectionStatus) -> channel_pb2.ConnectionStatus:
    state = (
        channel_pb2.CONNECTION_STATE_UNSPECIFIED
        if status.state is ConnectionState.UNTESTED
        else channel_pb2.ConnectionState.Value(_proto_name("CONNECTION_STATE", status.state))
    )
    return channel_pb2.ConnectionStatus(
        state=state,
        message=status.message,
        http_status=status.http_status,
        checked_at=timestamp(status.checked_at),
        failure_reason=failure_to_proto(status.failure),
    )


def health_to_proto(health: ChannelHealth, pending: int) -> channel_pb2.ChannelHealth:
    return channel_pb2.ChannelHealth(
        circuit_state=channel_pb2.CircuitState.Value(_proto_name("CIRCUIT_STATE", health.state)),
        consecutive_failures=health.consecutive_failures,
        last_success_time=timestamp(health.last_success_time),
        failing_since=timestamp(health.failing_since),
        pending_deliveries=pending,
    )


def channel_to_proto(
    channel: Channel, health: channel_pb2.ChannelHealth | None = None
) -> channel_pb2.Channel:
    spec = channel.spec
    return channel_pb2.Channel(
        id=channel.id,
        name=spec.name,
        url=spec.url,
        department_id=spec.department_id,
        subscriptions=[event_type_to_proto(value) for value in spec.subscriptions],
        retries_enabled=spec.retries_enabled,
        retry_schedule=[duration(delay) for delay in spec.retry_schedule],
        enabled=spec.enabled,
        connection_status=connection_status_to_proto(channel.connection),
        ordering=channel_pb2.Ordering.Value(_proto_name("ORDERING", spec.ordering)),
        max_concurrency=spec.max_concurrency,
        rate_limit_per_second=spec.rate_limit_per_second,
        disabled_reason=channel.disabled_reason,
        create_time=timestamp(channel.create_time),
        update_time=timestamp(channel.update_time),
        health=health,
        account_id=channel.account_id,
    )


def outcome_to_proto(outcome: AttemptOutcome) -> channel_pb2.DeliveryOutcome.ValueType:
    return channel_pb2.DeliveryOutcome.Value(_proto_name("DELIVERY_OUTCOME", outcome))


def outcome_from_proto(number: int) -> AttemptOutcome | None:
    """None for DELIVERY_OUTCOME_UNSPECIFIED (no filter)."""
    if number == channel_pb2.DELIVERY_OUTCOME_UNSPECIFIED:
        return None
    value = _from_proto(channel_pb2.DeliveryOutcome, AttemptOutcome, "DELIVERY_OUTCOME", number)
    if value is None:
        raise InvalidArgument.field("outcome", f"{number} is not a delivery outcome")
    return value


def log_entry_to_proto(record: Attempt) -> channel_pb2.DeliveryLogEntry:
    return channel_pb2.DeliveryLogEntry(
        id=str(record.id),
        channel_id=record.channel_id,
        event_id=record.event_id,
        event_type=event_type_to_proto(record.event_type),
        ticket_id=record.ticket_id,
        ticket_number=record.ticket_number,
        attempt=record.attempt,
        http_status=record.http_status,
        response_body=record.response_body,
        outcome=outcome_to_proto(record.outcome),
        attempted_at=timestamp(record.attempted_at),
        duration=duration(record.duration),
        error=record.error,
        failure_reason=failure_to_proto(record.failure),
        webhook_id=record.webhook_id,
        next_attempt_at=timestamp(record.next_attempt_at),
        account_id=record.account_id,
    )


class AccountFiltered(Protocol):
    """A list or watch request with the optional `account_id` filter."""

    account_id: str

    def HasField(self, field_name: Literal["account_id"], /) -> bool: ...


def account_filter(request: AccountFiltered) -> str | None:
    """The account a request narrows to, None when it names none."""
    if not request.HasField("account_id"):
        return None
    if (violation := account_id_violation(request.account_id)) is not None:
        raise InvalidArgument(violation)
    return request.account_id
