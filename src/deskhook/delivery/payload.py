"""Webhook bodies: the proto3 JSON form of `deskhook.v1.WebhookPayload` (DESIGN §3)."""

from datetime import datetime

from google.protobuf import json_format

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
