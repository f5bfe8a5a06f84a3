"""`deskhook publish`: a JSON Lines file of events streamed to a real server. Bad lines are
reported by number and the rest still sent; a progress bar appears only on a terminal."""

import asyncio
import json
import os
import pty
from pathlib import Path

import pytest

from deskhook.cli.enums import EVENT_TYPES
from deskhook.cli.event_lines import NumberedEvent
from deskhook.cli.output import json_line
from deskhook.cli.publish import summarise
from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.server import DeskhookServer
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.channels import add_channel
from tests.support.cli_runner import RUN_SECONDS, Cli
from tests.support.events import make_event
from tests.support.receiver import Receiver
from tests.support.server import INGEST_TOKEN, AdminStub


@pytest.fixture
def cli(server: DeskhookServer) -> Cli:
    return Cli(server.port, INGEST_TOKEN)


def event_line(event_id: str, department_id: int = 7) -> str:
    return json_line(make_event(event_id, department_id=department_id))


async def test_bad_lines_are_reported_by_number_and_the_rest_is_sent(
    cli: Cli,
    admin: AdminStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    tmp_path: Path,
) -> None:
    await add_channel(admin, receiver)
    events = tmp_path / "events.jsonl"
    lines = [
        event_line("first"),
        "{not json",
        "",
        event_line("second"),
        '{"event_id": "odd", "colour": "blue"}',
        event_line("no-department", department_id=0),
        event_line("first"),
    ]
    events.write_text("\n".join(lines) + "\n")

    result = await cli.run("publish", str(events))
    assert result.failure().splitlines() == [
        "deskhook: line 2: not JSON: Expecting property name enclosed in double quotes: line 1"
        " column 2 (char 1)",
        'deskhook: line 5: not an Event: Message type "deskhook.v1.Event" has no field named'
        ' "colour" at "Event".',
        "deskhook: line 6 (event no-department): rejected: ticket.department_id: is required"
        " and must be positive",
    ]
    assert result.stdout == "2 accepted, 1 duplicate, 1 rejected, 2 invalid lines\n"
    await scheduler.drain()
    logged = await admin.ListDeliveryLog(admin_pb.ListDeliveryLogRequest())
    assert sorted(entry.event_id for entry in logged.entries) == ["first", "second"]


async def test_event_types_as_the_webhooks_or_as_proto3_json_name_them(cli: Cli) -> None:
    def typed(event_id: str, key: str, name: str) -> str:
        fields = json.loads(event_line(event_id))
        del fields["event_type"]
        return json.dumps({**fields, key: name})

    lines = [
        typed("wire", "event_type", "ticket_create"),
        typed("proto", "event_type", "EVENT_TYPE_TICKET_CREATE"),
        typed("camel", "eventType", "ticket_create"),
        typed("typo", "event_type", "ticket_creat"),
    ]
    result = await cli.run("publish", "-", stdin="\n".join(lines).encode())
    assert result.failure().splitlines() == [
        "deskhook: line 4: event_type 'ticket_creat' is not an event type: use one of"
        f" {', '.join(EVENT_TYPES.names)}, or a proto name such as EVENT_TYPE_TICKET_CREATE"
    ]
    assert result.stdout == "3 accepted, 0 duplicate, 0 rejected, 1 invalid lines\n"


async def test_json_summary_of_standard_input(cli: Cli) -> None:
    lines = [event_line("a"), event_line("b"), event_line("a")]
    result = await cli.run("publish", "-", "--json", stdin="\n".join(lines).encode())
    assert result.returncode == 0, result.stderr
    assert result.json_lines() == [
        {
            "accepted": 2,
            "duplicate": 1,
            "rejected": 0,
            "invalid": 0,
            "unacknowledged": 0,
            "problems": [],
        }
    ]
    assert result.stderr == ""


def test_events_the_stream_never_acked_fail_the_run() -> None:
    sent = [NumberedEvent(1, make_event("a")), NumberedEvent(3, make_event("b"))]
    acked = [ingest_pb.EventAck(event_id="a", result=ingest_pb.EVENT_ACK_RESULT_ACCEPTED)]
    summary = summarise(sent, acked, invalid=[])
    assert (summary.accepted, summary.unacknowledged, summary.failed) == (1, 1, True)


async def test_progress_bar_on_a_terminal(cli: Cli, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(event_line("shown"))
    controller, terminal = pty.openpty()
    try:
        process = await cli.start("publish", str(events), stderr=terminal)
        os.close(terminal)
        async with asyncio.timeout(RUN_SECONDS):
            screen = await asyncio.to_thread(read_until_closed, controller)
            assert await process.wait() == 0
    finally:
        os.close(controller)
    assert b"publishing" in screen


def read_until_closed(fd: int) -> bytes:
    """Everything written to the terminal whose controlling end is `fd`, until its last
    writer has closed it (Linux reports that as EIO)."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
