"""Webhook bodies: the JSON of the WebhookPayload that carries a stored event to one channel,
as json_format writes it, key for key and in order, for any event; an event's fields are
rendered once for all the channels it goes to."""

import json
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from deskhook.delivery.payload import event_body, notice_payload
from deskhook.domain.delivery import DeliveryRef
from deskhook.domain.events import TICKET_EVENT_TYPES, EventType
from deskhook.domain.operational import Notice
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
    event_type=st.sampled_from(TICKET_EVENT_TYPES),
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


def test_a_notice_is_its_own_body_whichever_channel_delivers_it() -> None:
    """An operational notice renders as json_format renders its OperationalEvent: the channel
    it names is the one it is about, and hostile text stays text inside JSON strings."""
    hostile = '</script><b>"\u2028\x1b[2K'
    about = Notice(
        event_id="delivery.exhausted.ch_1.7.3",
        event_type=EventType.DELIVERY_EXHAUSTED,
        occurred_at=datetime(2026, 12, 7, 12, 0, 0, 123456, tzinfo=UTC),
        channel_id="ch_1",
        account_id="acme",
        channel_name=hostile,
        reason=hostile,
        console_link="https://deskhook.example/#channel=ch_1",
        delivery=DeliveryRef(7, "ch_1", "evt-9", EventType.TICKET_ANSWER, 2**62, "HD-1", "acme"),
        attempts=3,
        http_status=503,
    )
    stored = notice_payload(about)
    body = json.loads(event_body(stored, EventType.DELIVERY_EXHAUSTED, "operational"))
    expected = json_format.MessageToDict(
        event_pb2.OperationalEvent.FromString(stored), preserving_proto_field_name=True
    )
    assert same_json(body, expected)
    assert body["channel_id"] == "ch_1"
    assert (body["channel_name"], body["ticket_id"]) == (hostile, str(2**62))
    assert (body["delivery_event_id"], body["delivery_event_type"]) == ("evt-9", "ticket_answer")
    assert body["occurred_at"] == "2026-12-07T12:00:00.123456Z"
