"""Webhook bodies: the proto3 JSON form of `deskhook.v1.WebhookPayload` (docs/design.md §3)."""

import functools
from datetime import datetime
from typing import Any

import orjson

from deskhook.delivery.proto_json import message_to_dict
from deskhook.domain.events import EventType
from deskhook.v1 import event_pb2

CONNECTION_TEST_EVENT_TYPE = "connection_test"
# Events whose rendered fields are kept: a claim takes an event's deliveries to its channels
# together, so the recent ones are enough.
RENDERED_EVENTS = 256
# Stands in for the channel id while an event's fields are rendered for every channel: not
# empty, since proto3 JSON leaves empty strings out, and the key must keep its place.
_ANY_CHANNEL = "-"


def _fields(payload: event_pb2.WebhookPayload) -> dict[str, Any]:
    return message_to_dict(payload)


def _body(fields: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON with the proto field names, as receivers parse it back."""
    return orjson.dumps(fields)


def connection_test_body(channel_id: str, event_id: str, occurred_at: datetime) -> bytes:
    payload = event_pb2.WebhookPayload(
        event_id=event_id, event_type=CONNECTION_TEST_EVENT_TYPE, channel_id=channel_id
    )
    payload.occurred_at.FromDatetime(occurred_at)
    return _body(_fields(payload))


def webhook_payload(
    event: event_pb2.Event, event_type: EventType, channel_id: str
) -> event_pb2.WebhookPayload:
    """What a channel is sent of an event."""
    payload = event_pb2.WebhookPayload(
        event_id=event.event_id,
        event_type=event_type.value,
        occurred_at=event.occurred_at,
        channel_id=channel_id,
        ticket=event.ticket,
        account_id=event.account_id,
    )
    if event.HasField("actor"):
        payload.actor.CopyFrom(event.actor)
    # WebhookPayload's detail oneof mirrors Event's, case for case.
    if (detail := event.WhichOneof("detail")) is not None:
        getattr(payload, detail).CopyFrom(getattr(event, detail))
    return payload


@functools.lru_cache(maxsize=RENDERED_EVENTS)
def _event_fields(event_bytes: bytes, event_type: EventType) -> dict[str, Any]:
    """A stored event's webhook fields, for any channel: an event matched by several channels
    is walked once. Callers copy it before they change it."""
    event = event_pb2.Event.FromString(event_bytes)
    return _fields(webhook_payload(event, event_type, _ANY_CHANNEL))


def event_body(event_bytes: bytes, event_type: EventType, channel_id: str) -> bytes:
    """The body delivering a stored event (deskhook.v1.Event bytes) to one channel."""
    fields = dict(_event_fields(event_bytes, event_type))
    fields["channel_id"] = channel_id
    return _body(fields)
