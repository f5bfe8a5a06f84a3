"""Checks a published deskhook.v1.Event and reduces it to a PublishedEvent.

Every failure names the field, as a path from the event (`ticket.department_id`), so a producer
sees at once what to fix. The checks are what deskhook itself relies on: the id, the type and
the detail it needs, the ticket and department to match on, sane times, the 256 KiB bound and
custom fields that protobuf decoders can read back, a ticket number (`unique_id`) without
control characters, as people read it in the log, and trace context that receivers' tracing
can parse. The rest of the ticket's data, free text
included, is passed to receivers as the helpdesk sent it: the JSON body escapes it. This runs
for every ingested event, so it reads each field once and allocates only on failure."""

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

from google.protobuf import struct_pb2, timestamp_pb2

from deskhook.api.convert import event_type_from_proto
from deskhook.domain.accounts import account_id_violation
from deskhook.domain.errors import FieldViolation, InvalidArgument
from deskhook.domain.events import (
    OPERATIONAL_EVENT_TYPES,
    EventType,
    PublishedEvent,
    event_id_violation,
)
from deskhook.domain.text import NO_CONTROL_CHARACTERS, has_control_characters
from deskhook.domain.trace_context import traceparent_violation, tracestate_violation
from deskhook.v1 import event_pb2

MAX_EVENT_BYTES: Final = 256 * 1024
MAX_CUSTOM_FIELD_DEPTH: Final = 16
MAX_FUTURE_SKEW_SECONDS: Final = 5 * 60
EARLIEST_OCCURRED_AT_SECONDS: Final = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
# What a Timestamp may hold (years 1 to 9999): beyond it, no JSON form exists for the webhook.
TIMESTAMP_MIN_SECONDS: Final = -62_135_596_800
TIMESTAMP_MAX_SECONDS: Final = 253_402_300_799
# What `ticket.department_id` (an int64) holds; a department change names its ids as text.
MAX_DEPARTMENT_ID: Final = 2**63 - 1

# The detail each event type carries (the oneof case), and for a change the field it names.
_DETAIL: Final[dict[EventType, tuple[str | None, str | None]]] = {
    EventType.TICKET_CREATE: (None, None),
    EventType.TICKET_CLOSE: (None, None),
    EventType.TICKET_ANSWER: ("post", None),
    EventType.TICKET_CHAT_ANSWER: ("post", None),
    EventType.TICKET_COMMENT: ("post", None),
    EventType.TICKET_STATUS_CHANGE: ("change", "status"),
    EventType.TICKET_PRIORITY_CHANGE: ("change", "priority"),
    EventType.TICKET_TYPE_CHANGE: ("change", "type"),
    EventType.TICKET_ASSIGNEE_CHANGE: ("change", "assignee"),
    EventType.TICKET_DEPARTMENT_CHANGE: ("change", "department"),
    EventType.TICKET_SLA_REACHED: ("sla", None),
    EventType.TICKET_RATING: ("rating", None),
}


def _occurred_at(event: event_pb2.Event, now_seconds: int) -> int | FieldViolation:
    """Microseconds since the epoch, or what is wrong with the time."""
    if not event.HasField("occurred_at"):
        return FieldViolation("occurred_at", "is required")
    # Plain integers: Timestamp.ToDatetime is pure Python and several times slower.
    stamp = event.occurred_at
    seconds = stamp.seconds
    if not 0 <= stamp.nanos < 1_000_000_000:
        return FieldViolation("occurred_at.nanos", "must be from 0 to 999,999,999")
    if seconds > now_seconds + MAX_FUTURE_SKEW_SECONDS:
        return FieldViolation("occurred_at", "is more than 5 minutes in the future")
    if seconds < EARLIEST_OCCURRED_AT_SECONDS:
        return FieldViolation("occurred_at", "is before the year 2000")
    return seconds * 1_000_000 + stamp.nanos // 1000


def _custom_fields_violation(fields: struct_pb2.Struct) -> str | None:
    """What makes custom fields unfit to deliver: nesting protobuf decoders refuse (they stop
    at 100 levels; a bound well inside keeps every stored event readable), or a number JSON
    cannot write (NaN, infinity)."""
    level: list[struct_pb2.Value] = list(fields.fields.values())
    depth = 1
    while level:
        if depth > MAX_CUSTOM_FIELD_DEPTH:
            return f"must be nested at most {MAX_CUSTOM_FIELD_DEPTH} levels deep"
        deeper: list[struct_pb2.Value] = []
        for value in level:
            kind = value.WhichOneof("kind")
            if kind == "number_value" and not math.isfinite(value.number_value):
                return "must hold finite numbers only (JSON has no NaN or infinity)"
            if kind == "struct_value":
                deeper.extend(value.struct_value.fields.values())
            elif kind == "list_value":
                deeper.extend(value.list_value.values)
        level = deeper
        depth += 1
    return None


def _timestamps(
    event: event_pb2.Event, ticket: event_pb2.Ticket
) -> Iterator[tuple[str, timestamp_pb2.Timestamp]]:
    """The event's times other than occurred_at, which is checked more strictly."""
    for name in ("create_time", "update_time"):
        if ticket.HasField(name):
            yield f"ticket.{name}", getattr(ticket, name)
    if event.HasField("sla") and event.sla.HasField("deadline"):
        yield "sla.deadline", event.sla.deadline


def _timestamp_violation(field: str, stamp: timestamp_pb2.Timestamp) -> FieldViolation | None:
    if not 0 <= stamp.nanos < 1_000_000_000:
        return FieldViolation(f"{field}.nanos", "must be from 0 to 999,999,999")
    if not TIMESTAMP_MIN_SECONDS <= stamp.seconds <= TIMESTAMP_MAX_SECONDS:
        return FieldViolation(field, "must be within the years 1 to 9999")
    return None


def _ticket_violations(ticket: event_pb2.Ticket) -> list[FieldViolation]:
    violations = []
    if ticket.id <= 0:
        violations.append(FieldViolation("ticket.id", "is required and must be positive"))
    if ticket.department_id <= 0:
        violations.append(
            FieldViolation("ticket.department_id", "is required and must be positive")
        )
    if has_control_characters(ticket.unique_id):
        violations.append(FieldViolation("ticket.unique_id", NO_CONTROL_CHARACTERS))
    if ticket.HasField("custom_fields") and (
        problem := _custom_fields_violation(ticket.custom_fields)
    ):
        violations.append(FieldViolation("ticket.custom_fields", problem))
    return violations


def _detail_violation(event: event_pb2.Event, event_type: EventType) -> FieldViolation | None:
    wanted, change_field = _DETAIL[event_type]
    present = event.WhichOneof("detail")
    if present != wanted:
        expected = f"`{wanted}`" if wanted else "no detail"
        found = f"`{present}`" if present else "none"
        return FieldViolation(
            present or wanted or "detail", f"{event_type.value} carries {expected}, not {found}"
        )
    if present == "change" and event.change.field != change_field:
        return FieldViolation("change.field", f"must be '{change_field}' for {event_type.value}")
    if present == "rating" and not 1 <= event.rating.score <= 5:
        return FieldViolation("rating.score", "must be from 1 to 5")
    if present == "sla" and not event.sla.HasField("deadline"):
        return FieldViolation("sla.deadline", "is required")
    return None


def _trace_context_violations(event: event_pb2.Event) -> Iterator[FieldViolation]:
    if not event.traceparent:
        if event.tracestate:
            yield FieldViolation("tracestate", "is allowed only with a traceparent")
        return
    if (problem := traceparent_violation(event.traceparent)) is not None:
        yield FieldViolation("traceparent", problem)
    if (problem := tracestate_violation(event.tracestate)) is not None:
        yield FieldViolation("tracestate", problem)


def _department_id(text: str) -> int | None:
    """The department id `text` writes in decimal, or None unless it is one that fits an int64
    as `ticket.department_id` does."""
    digits = text.lstrip("0")
    # Bounded before int(), which refuses more than 4,300 digits with a ValueError.
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(MAX_DEPARTMENT_ID)):
        return None
    value = int(digits or "0")
    return value if 0 < value <= MAX_DEPARTMENT_ID else None


def _department_ids(
    event: event_pb2.Event, ticket: event_pb2.Ticket, event_type: EventType
) -> tuple[int, ...]:
    """The ticket's department; for a department change, the old and the new one."""
    if event_type is not EventType.TICKET_DEPARTMENT_CHANGE:
        return (ticket.department_id,)
    ids: list[int] = []
    violations: list[FieldViolation] = []
    for name in ("old_value", "new_value"):
        department_id = _department_id(getattr(event.change, name))
        if department_id is None:
            violations.append(
                FieldViolation(
                    f"change.{name}",
                    f"must be a department id in decimal, from 1 to {MAX_DEPARTMENT_ID}",
                )
            )
        else:
            ids.append(department_id)
    if violations:
        raise InvalidArgument(*violations)
    return tuple(dict.fromkeys(ids))


def published_event(event: event_pb2.Event, now_seconds: int) -> PublishedEvent:
    """The event, checked against the time `now_seconds` (Unix seconds); raises
    InvalidArgument naming every wrong field."""
    payload = event.SerializeToString()
    if len(payload) > MAX_EVENT_BYTES:
        raise InvalidArgument.field(
            "event", f"is {len(payload)} bytes encoded; at most {MAX_EVENT_BYTES} are allowed"
        )
    # Read once: every access to a submessage builds a new wrapper object.
    ticket = event.ticket
    violations = (
        _ticket_violations(ticket)
        if event.HasField("ticket")
        else [FieldViolation("ticket", "is required")]
    )
    if (id_violation := event_id_violation(event.event_id)) is not None:
        violations.append(id_violation)
    if (account_violation := account_id_violation(event.account_id)) is not None:
        violations.append(account_violation)
    violations.extend(_trace_context_violations(event))
    occurred_at = _occurred_at(event, now_seconds)
    if isinstance(occurred_at, FieldViolation):
        violations.append(occurred_at)
    try:
        event_type = event_type_from_proto(event.event_type, "event_type")
    except InvalidArgument as invalid:
        raise InvalidArgument(*violations, *invalid.violations) from None
    if event_type in OPERATIONAL_EVENT_TYPES:
        raise InvalidArgument(
            *violations,
            FieldViolation(
                "event_type", f"{event_type.value} is deskhook's own; publish a ticket event type"
            ),
        )
    if (detail_violation := _detail_violation(event, event_type)) is not None:
        violations.append(detail_violation)
    violations.extend(
        violation
        for field, stamp in _timestamps(event, ticket)
        if (violation := _timestamp_violation(field, stamp)) is not None
    )
    if violations or isinstance(occurred_at, FieldViolation):
        raise InvalidArgument(*violations)
    return PublishedEvent(
        event_id=event.event_id,
        event_type=event_type,
        department_ids=_department_ids(event, ticket, event_type),
        ticket_id=ticket.id,
        ticket_number=ticket.unique_id,
        occurred_at_micros=occurred_at,
        payload=payload,
        account_id=event.account_id,
        traceparent=event.traceparent,
        tracestate=event.tracestate,
    )
