"""Events: the twelve ticket types and the four operational ones, named as on the webhook wire,
and an event on its way in."""

from enum import StrEnum
from typing import Final, NamedTuple

from deskhook.domain.errors import FieldViolation

MAX_EVENT_ID_LENGTH: Final = 128


class EventType(StrEnum):
    TICKET_CREATE = "ticket_create"
    TICKET_ANSWER = "ticket_answer"
    TICKET_CHAT_ANSWER = "ticket_chat_answer"
    TICKET_COMMENT = "ticket_comment"
    TICKET_STATUS_CHANGE = "ticket_status_change"
    TICKET_PRIORITY_CHANGE = "ticket_priority_change"
    TICKET_TYPE_CHANGE = "ticket_type_change"
    TICKET_ASSIGNEE_CHANGE = "ticket_assignee_change"
    TICKET_CLOSE = "ticket_close"
    TICKET_DEPARTMENT_CHANGE = "ticket_department_change"
    TICKET_SLA_REACHED = "ticket_sla_reached"
    TICKET_RATING = "ticket_rating"
    # deskhook's own notices about channels, sent to the operational URL alone
    # (deskhook.domain.operational).
    CHANNEL_DISABLED = "channel.disabled"
    CHANNEL_FAILING = "channel.failing"
    CHANNEL_RECOVERED = "channel.recovered"
    DELIVERY_EXHAUSTED = "delivery.exhausted"


OPERATIONAL_EVENT_TYPES: Final = frozenset(
    {
        EventType.CHANNEL_DISABLED,
        EventType.CHANNEL_FAILING,
        EventType.CHANNEL_RECOVERED,
        EventType.DELIVERY_EXHAUSTED,
    }
)
# What producers publish and channels subscribe to.
TICKET_EVENT_TYPES: Final = tuple(
    event_type for event_type in EventType if event_type not in OPERATIONAL_EVENT_TYPES
)


def event_id_violation(event_id: str) -> FieldViolation | None:
    """What is wrong with an event id, as published or as named by a filter; None if fine."""
    if not event_id:
        return FieldViolation("event_id", "is required")
    if len(event_id) > MAX_EVENT_ID_LENGTH or not (event_id.isascii() and event_id.isprintable()):
        return FieldViolation(
            "event_id", f"must be 1 to {MAX_EVENT_ID_LENGTH} printable ASCII characters"
        )
    return None


class PublishedEvent(NamedTuple):
    """A validated event, reduced to what storage and matching need; `payload` is the event as
    published (protobuf binary), kept to render the webhook body from. Tuples, not frozen
    dataclasses, for the records made per ingested event: they build several times faster."""

    event_id: str
    event_type: EventType
    department_ids: tuple[int, ...]
    ticket_id: int
    ticket_number: str
    # Microseconds since the Unix epoch: integers all the way from the wire to the store.
    occurred_at_micros: int
    payload: bytes
    # Only this account's channels match.
    account_id: str
    # The producer's W3C trace context, "" without one: the commit's span links to it.
    traceparent: str = ""
    tracestate: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """The idempotency key: an event id is unique within its account."""
        return self.account_id, self.event_id


class MatchedEvent(NamedTuple):
    event: PublishedEvent
    channel_ids: tuple[str, ...]


class IngestResult(NamedTuple):
    """`accepted` is False for a duplicate event id; `matched_channels` is the count of the
    first acceptance either way."""

    accepted: bool
    matched_channels: int
