"""Webhook bodies: an event's fields are rendered once for all the channels it goes to, and each
channel still gets the body it would get alone."""

import json
from typing import Any

from google.protobuf import json_format

from deskhook.delivery.payload import event_body, webhook_payload
from deskhook.domain.events import EventType
from deskhook.v1 import event_pb2
from tests.support.events import make_event


def rendered_alone(event: event_pb2.Event, channel_id: str) -> Any:
    """The body as json_format writes the whole WebhookPayload for one channel, parsed: the
    order of a Struct's keys (custom fields) is the map's, which may differ between copies of
    one message."""
    payload = webhook_payload(event, EventType.TICKET_CREATE, channel_id)
    return json.loads(json_format.MessageToJson(payload, preserving_proto_field_name=True))


def test_each_channel_gets_its_own_body_as_if_rendered_alone() -> None:
    event = make_event("fan-out")
    stored = event.SerializeToString()
    bodies = [
        event_body(stored, EventType.TICKET_CREATE, channel_id)
        for channel_id in ("ch_first", "ch_second", "ch_first")
    ]
    first, second, first_again = map(json.loads, bodies)
    assert first == first_again == rendered_alone(event, "ch_first")
    assert second == rendered_alone(event, "ch_second")


def test_events_with_the_same_fields_but_another_type_render_apart() -> None:
    stored = make_event("typed").SerializeToString()
    created = event_body(stored, EventType.TICKET_CREATE, "ch_one")
    closed = event_body(stored, EventType.TICKET_CLOSE, "ch_one")
    assert b'"event_type":"ticket_create"' in created
    assert b'"event_type":"ticket_close"' in closed
