"""What commands print: proto3 JSON, one message per line, for scripts (`--json`); rich tables
and lines for people, with every character that could steer a terminal shown escaped."""

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from functools import cache
from typing import IO, Any

from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich import box
from rich.console import Console, RenderableType
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

# Piped output goes to grep and the like: a row stays on one line however wide it is.
_PIPE_WIDTH = 10_000

# What could move the cursor, erase, recolour or retitle a terminal, or reorder or break what
# it shows: the C0, DEL and C1 controls, the bidirectional formatting marks and the line and
# paragraph separators. Names, ticket numbers, response bodies and messages come from admins,
# the helpdesk and receivers, and hold any of them.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    character = match[0]
    code = ord(character)
    if character in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[character]
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with each character that could steer a terminal written as its escape: `\\x1b`,
    `\\r`, `\\u009b`. Everything shown to people goes through here."""
    return _UNPRINTABLE.sub(_escape, text)


class _PrintableConsole(Console):
    """Rich turns every string it shows (table cells, headers, plain lines) into Text here, to
    measure and to draw it: the one place where server data meets the terminal."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(printable(text), **options)


@cache
def console() -> Console:
    # Names and URLs come from users: never read them as rich markup.
    return _PrintableConsole(
        markup=False,
        highlight=False,
        emoji=False,
        width=None if sys.stdout.isatty() else _PIPE_WIDTH,
    )


def say(line: str = "", file: IO[str] | None = None) -> None:
    """One line for people, on standard output unless `file` (standard error) is given; flushed,
    so that a line of `log --follow` shows as it happens."""
    print(printable(line), file=file or sys.stdout, flush=True)


def json_text(value: Any) -> str:
    """The one JSON form of every `--json` output: compact, and ASCII, so that no control
    character (C1 included) nor bidirectional mark reaches a terminal unescaped."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def json_line(message: Message) -> str:
    """The proto3 JSON form with the proto field names, as webhook bodies are written."""
    return json_text(json_format.MessageToDict(message, preserving_proto_field_name=True))


def print_json(message: Message) -> None:
    # Flushed line by line: a reader of `log --follow --json` sees each entry as it happens.
    print(json_line(message), flush=True)


def table(*headers: str) -> Table:
    return Table(*headers, box=box.SIMPLE, show_edge=False, header_style="bold", pad_edge=False)


def fields_table(rows: Iterable[tuple[str, str]]) -> Table:
    """Name and value, one field a row."""
    view = Table(box=None, show_header=False, pad_edge=False)
    view.add_column(style="bold")
    view.add_column()
    for name, value in rows:
        view.add_row(name, value)
    return view


def when(moment: Timestamp) -> str:
    """UTC, to the second; `-` when unset."""
    if moment.ByteSize() == 0:
        return "-"
    return moment.ToDatetime(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def milliseconds(span: Duration) -> str:
    return f"{span.ToTimedelta().total_seconds() * 1000:.0f} ms"


def span(delay: Duration) -> str:
    """`1h30m` for 5400 seconds, as the duration flags are written."""
    seconds, parts = delay.seconds, []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def show(as_json: bool, message: Message, view: RenderableType) -> None:
    """`message` as a JSON line, or `view` of it for people."""
    if as_json:
        print_json(message)
    else:
        console().print(view)


def show_all(
    as_json: bool, messages: Sequence[Message], view: RenderableType, *, none: str
) -> None:
    """A JSON line for each of `messages`, or `view` of them all for people. When there are
    none, `none` says so to people (a table of headers alone reads as a fault); JSON is
    silent."""
    if as_json:
        for message in messages:
            print_json(message)
    else:
        console().print(view if messages else none)


@contextmanager
def progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error, only when that is a terminal; yields `advance(n)`."""
    if not sys.stderr.isatty():
        yield lambda _done: None
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.advance(task, done)
