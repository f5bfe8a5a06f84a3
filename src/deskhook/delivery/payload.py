"""Webhook bodies: the proto3 JSON form of `deskhook.v1.WebhookPayload` (docs/design.md §3), or
of `deskhook.v1.OperationalEvent` for an operational notice (§11)."""

import functools
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from deskhook.delivery.proto_json import message_to_dict
from deskhook.domain.events import OPERATIONAL_EVENT_TYPES, EventType
from deskhook.domain.operational import Notice
from deskhook.v1 import event_pb2

CONNECTION_TEST_EVENT_TYPE = "connection_test"
# Events whose rendered fields are kept: a claim takes an event's deliveries to its channels
# together, so the recent ones are enough.
RENDERED_EVENTS = 256


def _body(fields: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON with the proto field names, as receivers parse it back."""
    return orjson.dumps(fields)


def connection_test_body(channel_id: str, event_id: str, occurred_at: datetime) -> bytes:
    payload = event_pb2.WebhookPayload(
        event_id=event_id, event_type=CONNECTION_TEST_EVENT_TYPE, channel_id=channel_id
    )
    payload.occurred_at.FromDatetime(occurred_at)
    return _body(message_to_dict(payload))


# The event's trace context goes into each attempt's headers, with the attempt's own span id:
# never into the body, which is the same for every attempt (docs/design.md §4).
TRACE_CONTEXT_FIELDS = ("traceparent", "tracestate")


class RenderedEvent(NamedTuple):
    """A stored event's webhook fields for any channel, in two parts: before the channel id and
    after it; and its trace context ("" when it has none)."""

    before: dict[str, Any]
    after: dict[str, Any]
    traceparent: str
    tracestate: str


@functools.lru_cache(maxsize=RENDERED_EVENTS)
def rendered_event(event_bytes: bytes, event_type: EventType) -> RenderedEvent:
    """A stored event (deskhook.v1.Event bytes), ready to deliver. WebhookPayload numbers its
    fields as Event does but for `channel_id`, after `occurred_at`, and `event_type`, a string,
    so the event's own JSON is most of it: no WebhookPayload is built. An event matched by
    several channels is walked once."""
    if event_type in OPERATIONAL_EVENT_TYPES:
        # A notice carries no producer's trace, and its body is whole as stored (`event_body`).
        return RenderedEvent({}, {}, "", "")
    event = event_pb2.Event.FromString(event_bytes)
    after = message_to_dict(event)
    for name in ("event_type", *TRACE_CONTEXT_FIELDS):
        after.pop(name, None)
    before = {"event_id": after.pop("event_id")} if "event_id" in after else {}
    before["event_type"] = event_type.value
    if "occurred_at" in after:
        before["occurred_at"] = after.pop("occurred_at")
    return RenderedEvent(before, after, event.traceparent, event.tracestate)


def event_body(event_bytes: bytes, event_type: EventType, channel_id: str) -> bytes:
    """The body delivering a stored event (deskhook.v1.Event bytes) to one channel: the JSON of
    the WebhookPayload that carries it. A notice (deskhook.v1.OperationalEvent bytes) is its own
    body: its `channel_id` names the channel it is about, not the one delivering it."""
    if event_type in OPERATIONAL_EVENT_TYPES:
        return _body(message_to_dict(event_pb2.OperationalEvent.FromString(event_bytes)))
    rendered = rendered_event(event_bytes, event_type)
    return _body({**rendered.before, "channel_id": channel_id, **rendered.after})


def notice_payload(notice: Notice) -> bytes:
    """A notice as stored: deskhook.v1.OperationalEvent bytes, which `event_body` renders."""
    message = event_pb2.OperationalEvent(
        event_id=notice.event_id,
        event_type=notice.event_type.value,
        channel_id=notice.channel_id,
        account_id=notice.account_id,
        channel_name=notice.channel_name,
        reason=notice.reason,
        console_link=notice.console_link,
        attempts=notice.attempts,
        http_status=notice.http_status,
    )
    message.occurred_at.FromDatetime(notice.occurred_at)
    if notice.delivery is not None:
        message.delivery_event_id = notice.delivery.event_id
        message.delivery_event_type = notice.delivery.event_type.value
        message.ticket_id = notice.delivery.ticket_id
    return message.SerializeToString()
