"""Webhook bodies: the proto3 JSON form of `deskhook.v1.WebhookPayload` (DESIGN §3)."""

from datetime import datetime

from google.protobuf import json_format

from deskhook.domain.events import EventType
from deskhook.v1 import event_pb2

CONNECTION_TEST_EVENT_TYPE = "connection_test"


def render(payload: event_pb2.WebhookPayload) -> bytes:
    """Compact UTF-8 JSON with the proto field names, as receivers parse it back."""
    return json_format.MessageToJson(
        payload, preserving_proto_field_name=True, indent=None, ensure_ascii=False
    ).encode()


def connection_test_body(channel_id: str, event_id: str, occurred_at: datetime) -> bytes:
    payload = event_pb2.WebhookPayload(
        event_id=event_id, event_type=CONNECTION_TEST_EVENT_TYPE, channel_id=channel_id
    )
    payload.occurred_at.FromDatetime(occurred_at)
    return render(payload)


def event_body(event_bytes: bytes, event_type: EventType, channel_id: str) -> bytes:
    """The body delivering a stored event (deskhook.v1.Event bytes) to one channel."""
    event = event_pb2.Event.FromString(event_bytes)
    payload = event_pb2.WebhookPayload(
        event_id=event.event_id,
        event_type=event_type.value,
        occurred_at=event.occurred_at,
        channel_id=channel_id,
        ticket=event.ticket,
    )
    if event.HasField("actor"):
        payload.actor.CopyFrom(event.actor)
    # WebhookPayload's detail oneof mirrors Event's, case for case.
    if (detail := event.WhichOneof("detail")) is not None:
        getattr(payload, detail).CopyFrom(getattr(event, detail))
    return render(payload)
