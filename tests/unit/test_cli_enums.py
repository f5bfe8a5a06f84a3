"""The command line names enum values as the wire does: event types as webhooks name them, the
operational ones with their dot; channels subscribe to ticket types alone."""

from deskhook.cli.enums import EVENT_TYPES, TICKET_EVENT_TYPES
from deskhook.domain.events import OPERATIONAL_EVENT_TYPES
from deskhook.domain.events import TICKET_EVENT_TYPES as DOMAIN_TICKET_TYPES
from deskhook.v1 import event_pb2


def test_event_types_are_spelled_as_on_the_webhook_wire() -> None:
    assert set(EVENT_TYPES.names) == {*DOMAIN_TICKET_TYPES, *OPERATIONAL_EVENT_TYPES}
    assert EVENT_TYPES.parse("channel.disabled") == event_pb2.EVENT_TYPE_CHANNEL_DISABLED
    assert EVENT_TYPES.parse("EVENT_TYPE_DELIVERY_EXHAUSTED") == (
        event_pb2.EVENT_TYPE_DELIVERY_EXHAUSTED
    )
    assert EVENT_TYPES.name(event_pb2.EVENT_TYPE_TICKET_SLA_REACHED) == "ticket_sla_reached"
    assert EVENT_TYPES.parse("channel_disabled") is None


def test_channels_subscribe_to_the_twelve_ticket_types() -> None:
    assert [event_type.value for event_type in DOMAIN_TICKET_TYPES] == TICKET_EVENT_TYPES
