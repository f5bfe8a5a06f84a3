"""The webhook body's renderer agrees with json_format, field for field, on random messages of
every message type deskhook's protos declare: each field set or not, every scalar type at its
extremes, enum numbers known and unknown, repeated and map fields, and Structs nested to any
depth."""

import json
import math

import pytest
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor
from hypothesis import given, settings
from hypothesis import strategies as st

from deskhook.delivery.proto_json import message_to_dict
from deskhook.v1 import channel_admin_pb2, channel_pb2, event_ingest_pb2, event_pb2
from tests.support.events import make_event
from tests.support.proto_strategies import messages, same_json

MESSAGE_TYPES = sorted(
    (
        descriptor
        for module in (event_pb2, channel_pb2, channel_admin_pb2, event_ingest_pb2)
        for descriptor in module.DESCRIPTOR.message_types_by_name.values()
    ),
    key=lambda descriptor: descriptor.full_name,
)


@pytest.mark.parametrize("descriptor", MESSAGE_TYPES, ids=lambda d: d.name)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_message_type_renders_as_json_format_renders_it(
    descriptor: Descriptor, data: st.DataObject
) -> None:
    message = data.draw(messages(descriptor))
    try:
        expected = json_format.MessageToDict(message, preserving_proto_field_name=True)
    except json_format.SerializeToJsonError:
        # What json_format cannot write (a field mask path in capitals) is refused here too.
        with pytest.raises(ValueError):  # noqa: PT011 - each check words its own refusal
            message_to_dict(message)
        return
    assert same_json(message_to_dict(message), expected)


def test_the_sample_event_renders_to_the_same_bytes() -> None:
    event = make_event("sample")
    expected = json_format.MessageToJson(event, preserving_proto_field_name=True, indent=None)
    assert json.dumps(message_to_dict(event), ensure_ascii=False) == expected


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_a_struct_number_json_cannot_hold_is_refused_as_by_json_format(number: float) -> None:
    event = event_pb2.Event()
    event.ticket.custom_fields["size"] = number
    with pytest.raises(json_format.SerializeToJsonError):
        json_format.MessageToDict(event, preserving_proto_field_name=True)
    with pytest.raises(ValueError, match="number_value"):
        message_to_dict(event)


def test_well_known_types_render_as_json_format_renders_them() -> None:
    stamp = timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=5_000)
    value = struct_pb2.Value(list_value=struct_pb2.ListValue(values=[struct_pb2.Value()]))
    for message in (stamp, value):
        assert message_to_dict(message) == json_format.MessageToDict(message)
