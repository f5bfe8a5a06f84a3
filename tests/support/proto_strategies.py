"""Hypothesis strategies for deskhook's protobuf messages (any message type filled at random:
every scalar type at its extremes, enum numbers known and unknown, repeated and map fields,
Structs nested to any depth), and JSON compared as renderers must agree on it."""

import math
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

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
