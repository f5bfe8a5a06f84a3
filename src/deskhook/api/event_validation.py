"""Checks a published deskhook.v1.Event and reduces it to a PublishedEvent.

Every failure names the field, as a path from the event (`ticket.department_id`), so a producer
sees at once what to fix. The limits are the ones stated in the proto comments."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from google.protobuf import struct_pb2

from deskhook.api.convert import event_type_from_proto
from deskhook.domain.errors import FieldViolation, InvalidArgument
from deskhook.domain.events import EventType, PublishedEvent
from deskhook.v1 import event_pb2

MAX_EVENT_BYTES: Final = 256 * 1024
MAX_EVENT_ID_LENGTH: Final = 128
MAX_FUTURE_SKEW: Final = timedelta(minutes=5)
MAX_CUSTOM_FIELD_DEPTH: Final = 16
MAX_TAGS: Final = 100
MAX_FILES: Final = 100
EARLIEST_OCCURRED_AT: Final = datetime(2000, 1, 1, tzinfo=UTC)

# The detail each event type carries (the oneof case), and for changes the field named.
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

_PERSON_LIMITS: Final = (("name", 256), ("email", 320))
_TICKET_LIMITS: Final = (
    ("unique_id", 64),
    ("title", 1024),
    ("status", 128),
    ("priority", 128),
    ("type", 128),
    ("department_name", 256),
)
_CHANGE_LIMITS: Final = (
    ("field", 32),
    ("old_value", 256),
    ("new_value", 256),
    ("old_label", 256),
    ("new_label", 256),
)
_FILE_LIMITS: Final = (("name", 512), ("url", 2048), ("content_type", 255))


def _too_long(
    message: object, limits: Iterable[tuple[str, int]], prefix: str
) -> Iterable[FieldViolation]:
    for name, limit in limits:
        if len(getattr(message, name)) > limit:
            yield FieldViolation(f"{prefix}{name}", f"must be at most {limit} characters")


def _depth(value: struct_pb2.Value, depth: int = 1) -> int:
    kind = value.WhichOneof("kind")
    inner: Iterable[struct_pb2.Value]
    if kind == "struct_value":
        inner = value.struct_value.fields.values()
    elif kind == "list_value":
        inner = value.list_value.values
    else:
        return depth
    return max((_depth(item, depth + 1) for item in inner), default=depth)


def _ticket_violations(ticket: event_pb2.Ticket) -> Iterable[FieldViolation]:
    if ticket.id <= 0:
        yield FieldViolation("ticket.id", "is required and must be positive")
    if ticket.department_id <= 0:
        yield FieldViolation("ticket.department_id", "is required and must be positive")
    yield from _too_long(ticket, _TICKET_LIMITS, "ticket.")
    for role in ("assignee", "client"):
        yield from _too_long(getattr(ticket, role), _PERSON_LIMITS, f"ticket.{role}.")
    if len(ticket.tags) > MAX_TAGS:
        yield FieldViolation("ticket.tags", f"must have at most {MAX_TAGS} tags")
    for index, tag in enumerate(ticket.tags):
        if len(tag) > 128:
            yield FieldViolation(f"ticket.tags[{index}]", "must be at most 128 characters")
    if any(
        _depth(value) > MAX_CUSTOM_FIELD_DEPTH for value in ticket.custom_fields.fields.values()
    ):
        yield FieldViolation(
            "ticket.custom_fields", f"must be nested at most {MAX_CUSTOM_FIELD_DEPTH} levels deep"
        )


def _detail_violations(event: event_pb2.Event, event_type: EventType) -> Iterable[FieldViolation]:
    wanted, change_field = _DETAIL[event_type]
    present = event.WhichOneof("detail")
    if present != wanted:
        expected = f"`{wanted}`" if wanted else "no detail"
        yield FieldViolation(
            present or wanted or "detail",
            f"{event_type.value} carries {expected}, not {f'`{present}`' if present else 'none'}",
        )
        return
    if present == "post":
        if len(event.post.text) > 131_072:
            yield FieldViolation("post.text", "must be at most 131072 characters")
        yield from _too_long(event.post.author, _PERSON_LIMITS, "post.author.")
        if len(event.post.files) > MAX_FILES:
            yield FieldViolation("post.files", f"must have at most {MAX_FILES} files")
        for index, file in enumerate(event.post.files):
            yield from _too_long(file, _FILE_LIMITS, f"post.files[{index}].")
    elif present == "change":
        if event.change.field != change_field:
            yield FieldViolation("change.field", f"must be '{change_field}' for {event_type.value}")
        yield from _too_long(event.change, _CHANGE_LIMITS, "change.")
    elif present == "rating" and not 1 <= event.rating.score <= 5:
        yield FieldViolation("rating.score", "must be from 1 to 5")
    elif present == "sla" and not event.sla.HasField("deadline"):
        yield FieldViolation("sla.deadline", "is required")


def _department_ids(event: event_pb2.Event, event_type: EventType) -> tuple[int, ...]:
    """The ticket's department; for a department change, the old and the new one."""
    if event_type is not EventType.TICKET_DEPARTMENT_CHANGE:
        return (event.ticket.department_id,)
    ids: list[int] = []
    for name in ("old_value", "new_value"):
        text = getattr(event.change, name)
        if not text.isdigit() or int(text) <= 0:
            raise InvalidArgument.field(f"change.{name}", "must be a department id in decimal")
        ids.append(int(text))
    return tuple(dict.fromkeys(ids))


def published_event(event: event_pb2.Event, now: datetime) -> PublishedEvent:
    """The event, checked; raises InvalidArgument naming every wrong field."""
    violations: list[FieldViolation] = []
    size = event.ByteSize()
    if size > MAX_EVENT_BYTES:
        raise InvalidArgument.field("event", f"is {size} bytes encoded; at most 262144 allowed")
    event_id = event.event_id
    if not event_id:
        violations.append(FieldViolation("event_id", "is required"))
    elif len(event_id) > MAX_EVENT_ID_LENGTH or not (event_id.isascii() and event_id.isprintable()):
        violations.append(FieldViolation("event_id", "must be 1 to 128 printable ASCII characters"))
    try:
        event_type: EventType | None = event_type_from_proto(event.event_type, "event_type")
    except InvalidArgument as invalid:
        violations.extend(invalid.violations)
        event_type = None
    occurred_at = (
        event.occurred_at.ToDatetime(tzinfo=UTC) if event.HasField("occurred_at") else None
    )
    if occurred_at is None:
        violations.append(FieldViolation("occurred_at", "is required"))
    elif occurred_at > now + MAX_FUTURE_SKEW:
        violations.append(FieldViolation("occurred_at", "is more than 5 minutes in the future"))
    elif occurred_at < EARLIEST_OCCURRED_AT:
        violations.append(FieldViolation("occurred_at", "is before the year 2000"))
    if not event.HasField("ticket"):
        violations.append(FieldViolation("ticket", "is required"))
    else:
        violations.extend(_ticket_violations(event.ticket))
    if event_type is not None:
        violations.extend(_detail_violations(event, event_type))
    if violations or event_type is None or occurred_at is None:
        raise InvalidArgument(*violations)
    return PublishedEvent(
        event_id=event_id,
        event_type=event_type,
        department_ids=_department_ids(event, event_type),
        ticket_id=event.ticket.id,
        ticket_number=event.ticket.unique_id,
        occurred_at=occurred_at,
        payload=event.SerializeToString(),
    )
