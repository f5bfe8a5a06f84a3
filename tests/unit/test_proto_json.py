"""The webhook body's renderer agrees with json_format, field for field, on random messages of
every message type deskhook's protos declare: each field set or not, every scalar type at its
extremes, enum numbers known and unknown, repeated and map fields, and Structs nested to any
depth."""

import json
import math
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import given, settings
from hypothesis import strategies as st

from deskhook.delivery.proto_json import message_to_dict
from deskhook.v1 import channel_admin_pb2, channel_pb2, event_ingest_pb2, event_pb2
from tests.support.events import make_event

MESSAGE_TYPES = sorted(
    (
        descriptor
        for module in (event_pb2, channel_pb2, channel_admin_pb2, event_ingest_pb2)
        for descriptor in module.DESCRIPTOR.message_types_by_name.values()
    ),
    key=lambda descriptor: descriptor.full_name,
)
INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def scalars(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type in INT_RANGES:
        low, high = INT_RANGES[field.type]
        return st.integers(low, high)
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        known = [value.number for value in field.enum_type.values]
        # Proto3 enums are open: a number the type does not name is kept, and written as such.
        return st.sampled_from(known) | st.integers(-(2**31), 2**31 - 1)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=30)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=30)
    return st.floats(width=32 if field.type == FieldDescriptor.TYPE_FLOAT else 64)


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> Message:
    made = GetMessageClass(descriptor)()
    # Any: which methods a message has depends on its type.
    message: Any = made
    if descriptor.full_name == "google.protobuf.Struct":
        message.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=5)))
        return made
    if descriptor.full_name == "google.protobuf.Timestamp":
        message.FromSeconds(draw(st.integers(0, 253402300799)))
        message.nanos = draw(st.integers(0, 999_999_999))
        return made
    if descriptor.full_name == "google.protobuf.Duration":
        message.FromNanoseconds(draw(st.integers(-(10**18), 10**18)))
        return made
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        nested = field.message_type
        if nested is not None and nested.GetOptions().map_entry:
            key_field, value_field = nested.fields_by_name["key"], nested.fields_by_name["value"]
            entries = draw(st.dictionaries(scalars(key_field), scalars(value_field), max_size=3))
            getattr(message, field.name).update(entries)
        elif nested is not None:
            if depth >= 3:
                continue
            values = draw(st.lists(messages(nested, depth + 1), min_size=1, max_size=2))
            if field.is_repeated:
                getattr(message, field.name).extend(values)
            else:
                getattr(message, field.name).CopyFrom(values[0])
        elif field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(scalars(field), max_size=3)))
        else:
            setattr(message, field.name, draw(scalars(field)))
    return made


def same_json(found: Any, expected: Any) -> bool:
    """Equal as JSON; NaN, which equals nothing, matched by position."""
    if isinstance(found, float) and isinstance(expected, float):
        return found == expected or (math.isnan(found) and math.isnan(expected))
    if isinstance(found, dict) and isinstance(expected, dict):
        return list(found) == list(expected) and all(
            same_json(found[key], expected[key]) for key in found
        )
    if isinstance(found, list) and isinstance(expected, list):
        return len(found) == len(expected) and all(map(same_json, found, expected))
    return type(found) is type(expected) and bool(found == expected)


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
