"""What commands print on standard output: proto3 JSON, one message per line, for scripts
(`--json`); rich tables for people."""

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC
from functools import cache

from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich import box
from rich.console import Console, RenderableType
from rich.progress import Progress
from rich.table import Table

# Piped output goes to grep and the like: a row stays on one line however wide it is.
_PIPE_WIDTH = 10_000


@cache
def console() -> Console:
    # Names and URLs come from users: never read them as rich markup.
    return Console(
        markup=False,
        highlight=False,
        emoji=False,
        width=None if sys.stdout.isatty() else _PIPE_WIDTH,
    )


def json_line(message: Message) -> str:
    """The proto3 JSON form with the proto field names, as webhook bodies are written."""
    return json_format.MessageToJson(
        message, preserving_proto_field_name=True, indent=None, ensure_ascii=False
    )


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
    show_all(as_json, [message], view)


def show_all(as_json: bool, messages: Iterable[Message], view: RenderableType) -> None:
    """A JSON line for each of `messages`, or `view` of them all for people."""
    if not as_json:
        console().print(view)
        return
    for message in messages:
        print_json(message)


@contextmanager
def progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error, only when that is a terminal; yields `advance(n)`."""
    if not sys.stderr.isatty():
        yield lambda _done: None
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.advance(task, done)
