"""Messages as proto3 JSON values with their proto field names: what
`json_format.MessageToDict(message, preserving_proto_field_name=True)` returns, in 40% of its
time (the 1 KiB sample event: 19 µs against 46 µs).

json_format decides how to convert each field on every call, through a chain of checks and
method calls per field; rendering a webhook body spent most of its time there (docs/design.md
§5.9). Here the decision is made once per field descriptor and kept. Well-known types that
webhooks carry (Timestamp, Duration, FieldMask, Struct, Value, ListValue) are converted here
too; any other `google.protobuf` message (Any, the wrappers, Empty) is handed to json_format,
whose result it is by definition. `tests/unit/test_proto_json.py` checks the two agree on
random messages of every deskhook type."""

import base64
import math
from collections.abc import Callable
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

Convert = Callable[[Any], Any]
# A field or message descriptor: the stubs tell the pure-Python runtime's from upb's, which
# is the one in use.
Field = Any
# A message type's fields by number: the JSON name and how to convert a present value.
Plan = dict[int, tuple[str, Convert]]

_INT64_TYPES: Final = frozenset({FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64})
# By message type's full name.
_plans: dict[str, Plan] = {}


def message_to_dict(message: Message) -> dict[str, Any]:
    """`message` as proto3 JSON: a JSON object whose present fields carry their proto names."""
    converted: dict[str, Any] = _convert_message(message)
    return converted


def _convert_message(message: Message) -> Any:
    descriptor = message.DESCRIPTOR
    if (special := _WELL_KNOWN.get(descriptor.full_name)) is not None:
        return special(message)
    if descriptor.full_name.startswith("google.protobuf."):
        return json_format.MessageToDict(message, preserving_proto_field_name=True)
    plan = _plans.get(descriptor.full_name)
    if plan is None:
        plan = _plans[descriptor.full_name] = {
            field.number: _field_plan(field) for field in descriptor.fields
        }
    converted = {}
    for field, value in message.ListFields():
        name, convert = plan[field.number]
        converted[name] = convert(value)
    return converted


def _field_plan(field: Field) -> tuple[str, Convert]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return field.name, _map_converter(field.message_type.fields_by_name["value"])
    convert = _value_converter(field)
    if field.is_repeated:
        return field.name, lambda values: [convert(value) for value in values]
    return field.name, convert


def _map_converter(value_field: Field) -> Convert:
    convert = _value_converter(value_field)

    def converted(entries: Any) -> dict[str, Any]:
        return {_map_key(key): convert(entries[key]) for key in entries}

    return converted


def _map_key(key: object) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _value_converter(field: Field) -> Convert:
    """How one value of `field` (one element, for a repeated field) becomes JSON."""
    cpp_type = field.cpp_type
    if cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        return _convert_message
    if cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        return _enum_converter(field)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return lambda value: base64.b64encode(value).decode("ascii")
    if cpp_type in _INT64_TYPES:
        return str
    if cpp_type in (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT):
        # Floats and their shortest form are rare enough to leave to json_format entirely.
        return lambda value: _float(field, value)
    return _same


def _same(value: Any) -> Any:
    return value


def _float(field: Field, value: float) -> Any:
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    if math.isnan(value):
        return "NaN"
    if field.cpp_type == FieldDescriptor.CPPTYPE_FLOAT:
        return json_format.type_checkers.ToShortestFloat(value)  # type: ignore[attr-defined]
    return value


def _enum_converter(field: Field) -> Convert:
    enum_type = field.enum_type
    if enum_type.full_name == "google.protobuf.NullValue":
        return lambda _: None
    names = {number: value.name for number, value in enum_type.values_by_number.items()}
    # An open enum's unknown number is written as the number, as json_format does.
    return lambda number: names.get(number, number)


def _value(message: Any) -> Any:
    """google.protobuf.Value: whichever kind it holds."""
    kind = message.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "number_value":
        number = message.number_value
        if math.isinf(number) or math.isnan(number):
            # As json_format: JSON has no such number, and a string would parse back as one.
            raise ValueError(f"cannot write {number} as a Value's number_value")
        return number
    if kind == "struct_value":
        return _struct(message.struct_value)
    if kind == "list_value":
        return _list_value(message.list_value)
    return getattr(message, kind)


def _struct(message: Any) -> dict[str, Any]:
    fields = message.fields
    return {key: _value(fields[key]) for key in fields}


def _list_value(message: Any) -> list[Any]:
    return [_value(value) for value in message.values]


def _json_string(message: Any) -> str:
    text: str = message.ToJsonString()
    return text


_WELL_KNOWN: Final[dict[str, Convert]] = {
    "google.protobuf.Timestamp": _json_string,
    "google.protobuf.Duration": _json_string,
    "google.protobuf.FieldMask": _json_string,
    "google.protobuf.Struct": _struct,
    "google.protobuf.Value": _value,
    "google.protobuf.ListValue": _list_value,
}
