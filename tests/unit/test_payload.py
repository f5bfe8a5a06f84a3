"""Webhook bodies: the JSON of the WebhookPayload that carries a stored event to one channel,
as json_format writes it, key for key and in order, for any event; an event's fields are
rendered once for all the channels it goes to."""

import json
from typing import Any

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from deskhook.delivery.payload import event_body
from deskhook.domain.events import EventType
from deskhook.v1 import event_pb2
from tests.support.events import make_event
from tests.support.proto_strategies import messages, same_json


def webhook_payload(
    event: event_pb2.Event, event_type: EventType, channel_id: str
) -> event_pb2.WebhookPayload:
    """What a channel is sent of an event, built field by field (docs/design.md §3)."""
    payload = event_pb2.WebhookPayload(
        event_id=event.event_id,
        event_type=event_type.value,
        occurred_at=event.occurred_at if event.HasField("occurred_at") else None,
        channel_id=channel_id,
        ticket=event.ticket if event.HasField("ticket") else None,
        account_id=event.account_id,
    )
    if event.HasField("actor"):
        payload.actor.CopyFrom(event.actor)
    # WebhookPayload's detail oneof mirrors Event's, case for case.
    if (detail := event.WhichOneof("detail")) is not None:
        getattr(payload, detail).CopyFrom(getattr(event, detail))
    return payload


def rendered_alone(event: event_pb2.Event, event_type: EventType, channel_id: str) -> Any:
    payload = webhook_payload(event, event_type, channel_id)
    return json_format.MessageToDict(payload, preserving_proto_field_name=True)


@settings(max_examples=200, deadline=None)
@given(
    event=messages(event_pb2.Event.DESCRIPTOR),
    event_type=st.sampled_from(EventType),
    channel_id=st.text(min_size=1, max_size=30),
)
def test_any_event_renders_as_json_format_renders_its_webhook_payload(
    event: event_pb2.Event, event_type: EventType, channel_id: str
) -> None:
    body = event_body(event.SerializeToString(), event_type, channel_id)
    assert same_json(json.loads(body), rendered_alone(event, event_type, channel_id))


def test_each_channel_gets_its_own_body_as_if_rendered_alone() -> None:
    event = make_event("fan-out")
    stored = event.SerializeToString()
    bodies = [
        event_body(stored, EventType.TICKET_CREATE, channel_id)
        for channel_id in ("ch_first", "ch_second", "ch_first")
    ]
    first, second, first_again = map(json.loads, bodies)
    expected_first = rendered_alone(event, EventType.TICKET_CREATE, "ch_first")
    assert same_json(first, expected_first)
    assert same_json(first_again, expected_first)
    assert same_json(second, rendered_alone(event, EventType.TICKET_CREATE, "ch_second"))


def test_events_with_the_same_fields_but_another_type_render_apart() -> None:
    stored = make_event("typed").SerializeToString()
    created = event_body(stored, EventType.TICKET_CREATE, "ch_one")
    closed = event_body(stored, EventType.TICKET_CLOSE, "ch_one")
    assert json.loads(created)["event_type"] == "ticket_create"
    assert json.loads(closed)["event_type"] == "ticket_close"
