"""A JSON Lines file of events: one deskhook.v1.Event in proto3 JSON a line."""

from dataclasses import dataclass

from google.protobuf import json_format

from deskhook.v1 import event_pb2


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


def parse_lines(data: bytes) -> tuple[list[NumberedEvent], list[Problem]]:
    """The events of the lines that hold one, and a problem for each line that does not.
    Blank lines are skipped."""
    events, problems = [], []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            event = json_format.Parse(line.decode(), event_pb2.Event())
        except (UnicodeDecodeError, json_format.ParseError) as error:
            # The first line says what is wrong; the parser goes on to list every field.
            problems.append(Problem(number, f"not an Event: {str(error).splitlines()[0]}"))
        else:
            events.append(NumberedEvent(number, event))
    return events, problems
