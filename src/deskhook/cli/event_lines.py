"""A JSON Lines file of events: one deskhook.v1.Event in proto3 JSON a line. The event type may
be written as the webhooks and the flags write it (`ticket_create`) or as proto3 JSON does
(`EVENT_TYPE_TICKET_CREATE`)."""

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from deskhook.cli.enums import EVENT_TYPES
from deskhook.v1 import event_pb2

# The event type's key, as proto3 JSON takes it: the field name or its lowerCamelCase form.
_EVENT_TYPE_KEYS = ("event_type", "eventType")


@dataclass(frozen=True)
class Problem:
    """Why the event on `line` was not sent, or was refused."""

    line: int
    reason: str
    event_id: str = ""
    field: str = ""

    def __str__(self) -> str:
        event = f" (event {self.event_id})" if self.event_id else ""
        # Servers often name the field in the reason already.
        field = f" [field {self.field}]" if self.field not in self.reason else ""
        return f"line {self.line}{event}: {self.reason}{field}"


@dataclass(frozen=True)
class NumberedEvent:
    line: int
    event: event_pb2.Event


class _NotAnEvent(Exception):
    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose names are all different, as protobuf's own JSON reader requires."""
    counts = Counter(name for name, _ in pairs)
    if repeated := [name for name, count in counts.items() if count > 1]:
        raise _NotAnEvent(f"not an Event: the name {repeated[0]!r} appears twice")
    return dict(pairs)


def _event(line: bytes) -> event_pb2.Event:
    try:
        fields = json.loads(line.decode(), object_pairs_hook=_unique_names)
    except ValueError as error:
        # UnicodeDecodeError and json.JSONDecodeError both are.
        raise _NotAnEvent(f"not JSON: {error}") from None
    if not isinstance(fields, dict):
        raise _NotAnEvent("not an Event: an event is a JSON object")
    for key in _EVENT_TYPE_KEYS:
        if isinstance(name := fields.get(key), str):
            number = EVENT_TYPES.parse(name)
            if number is None:
                reason = f"event_type {name!r} is not an event type: use {EVENT_TYPES.spellings()}"
                raise _NotAnEvent(reason, "event_type")
            fields[key] = number
    try:
        return json_format.ParseDict(fields, event_pb2.Event())
    except json_format.ParseError as error:
        # The first line says what is wrong; the parser goes on to list every field.
        raise _NotAnEvent(f"not an Event: {str(error).splitlines()[0]}") from None


def parse_lines(data: bytes) -> tuple[list[NumberedEvent], list[Problem]]:
    """The events of the lines that hold one, and a problem for each line that does not.
    Blank lines are skipped."""
    events, problems = [], []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            event = _event(line)
        except _NotAnEvent as problem:
            problems.append(Problem(number, problem.reason, field=problem.field))
        else:
            events.append(NumberedEvent(number, event))
    return events, problems
