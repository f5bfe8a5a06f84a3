"""What the client commands print of the server's data: control characters and rich markup from
admins, the helpdesk and receivers never reach the terminal as such, in tables, lines and error
messages alike; `--json` is one compact ASCII form for every command."""

import asyncio
import json
import re
import signal
from dataclasses import replace
from datetime import datetime

import grpc
import pytest
from google.protobuf.any_pb2 import Any as AnyProto
from google.rpc import code_pb2, error_details_pb2, status_pb2

from deskhook.api.event_validation import published_event
from deskhook.cli.command import tell_failure
from deskhook.cli.output import json_line, printable
from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.domain.accounts import EVERY_ACCOUNT
from deskhook.domain.channel_spec import ConnectionState, ConnectionStatus
from deskhook.domain.events import MatchedEvent
from deskhook.server import DeskhookServer
from tests.support.channels import add_channel
from tests.support.cli_runner import RUN_SECONDS, Cli, CliResult
from tests.support.clock import FakeClock
from tests.support.events import make_event
from tests.support.receiver import Answer, Receiver
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, AdminStub
from tests.support.store_items import opened

# Erase the line, go back to its start and write a verdict over it; ring; a C1 CSI (one
# character where ESC [ is two); a right-to-left override; rich markup and a link.
HOSTILE = "\x1b[2K\rdelivered\x07 \x9b31m [red]x[/red] [link=https://e.example]y[/link]\u202e!"
SHOWN = "\\x1b[2K\\rdelivered\\x07 \\u009b31m [red]x[/red] [link=https://e.example]y[/link]\\u202e!"
# What must never reach the terminal from server data; newlines end the program's own lines.
STEERING = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]")


def test_printable_escapes_what_could_steer_a_terminal() -> None:
    assert printable(HOSTILE) == SHOWN
    assert (
        printable("tab\there\nnew line\u2028\x00\x7f") == "tab\\there\\nnew line\\u2028\\x00\\x7f"
    )
    # Everything else, other scripts and emoji included, is shown as it is.
    assert printable("Élodie Zoë 東京 ✓ \\x1b") == "Élodie Zoë 東京 ✓ \\x1b"


def assert_escaped(result: CliResult) -> None:
    assert result.returncode == 0, result.stderr
    assert SHOWN in result.stdout
    assert not STEERING.search(result.stdout), result.stdout


async def write_hostile_rows(database: str, channel_id: str, now: datetime) -> None:
    """The channel's name and connection message, and the ticket number of an event to it.
    Straight into the store: the API may refuse such names and ticket numbers, but a store
    written by an older version, or by another writer, holds them."""
    async with opened(database) as store:
        channel = await store.get_channel(EVERY_ACCOUNT, channel_id)
        assert channel is not None
        await store.update_channel(
            EVERY_ACCOUNT, replace(channel, spec=replace(channel.spec, name=HOSTILE))
        )
        failed = ConnectionStatus(ConnectionState.FAILED, HOSTILE, 500, now)
        await store.set_connection_status(EVERY_ACCOUNT, channel_id, failed)
        event = published_event(make_event("evt-hostile"), int(now.timestamp()))
        hostile_ticket = event._replace(ticket_number=HOSTILE)
        await store.ingest([MatchedEvent(hostile_ticket, (channel_id,))], now)


@pytest.fixture
def cli(server: DeskhookServer) -> Cli:
    return Cli(server.port, ADMIN_TOKEN)


async def test_server_data_is_shown_escaped_in_tables_and_live_lines(
    cli: Cli,
    admin: AdminStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    database: str,
    clock: FakeClock,
) -> None:
    channel_id, _ = await add_channel(admin, receiver, retries_enabled=False)
    receiver.queue(Answer(status=500, body=HOSTILE.encode()))
    follower = await cli.start("log", "--follow")
    assert follower.stdout is not None
    assert follower.stderr is not None
    async with asyncio.timeout(RUN_SECONDS):
        # Following before the event is in: a store that notifies delivers it at once.
        await follower.stderr.readline()
        await write_hostile_rows(database, channel_id, clock())
        await scheduler.drain()
        line = (await follower.stdout.readline()).decode()
        follower.send_signal(signal.SIGINT)
        await follower.wait()
    assert_escaped(CliResult(0, line, ""))

    assert_escaped(await cli.run("log"))
    assert_escaped(await cli.run("channels", "list"))
    assert_escaped(await cli.run("channels", "get", channel_id))

    # JSON carries the data as it is, escaped as JSON: every character outside ASCII too.
    as_json = await cli.run("log", "--json")
    assert as_json.stdout.isascii()
    (entry,) = as_json.json_lines()
    assert (entry["ticket_number"], entry["response_body"]) == (HOSTILE, HOSTILE)


def test_failures_are_told_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    violation = error_details_pb2.BadRequest.FieldViolation(field="name", description=HOSTILE)
    detail = AnyProto()
    detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message=f"refused: {HOSTILE}", details=[detail]
    )
    error = grpc.aio.AioRpcError(
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString())),
        details=status.message,
    )
    tell_failure(error, "127.0.0.1:50051")
    told = capsys.readouterr().err
    assert told.splitlines() == [
        f"deskhook: INVALID_ARGUMENT: refused: {SHOWN}",
        f"  name: {SHOWN}",
    ]


async def test_every_json_output_is_one_compact_ascii_form(
    server: DeskhookServer, admin: AdminStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    channel_id, _ = await add_channel(admin, receiver, name="Zoë's CRM")
    admin_cli, ingest_cli = Cli(server.port, ADMIN_TOKEN), Cli(server.port, INGEST_TOKEN)
    published = await ingest_cli.run(
        "publish", "-", "--json", stdin=json_line(make_event("evt-1")).encode()
    )
    await scheduler.drain()
    results = [
        published,
        await admin_cli.run("channels", "get", channel_id, "--json"),
        await admin_cli.run("channels", "list", "--json"),
        await admin_cli.run("channels", "test", channel_id, "--json"),
        await admin_cli.run("log", "--json"),
        await admin_cli.run("redeliver", channel_id, "--event-id", "evt-1", "--json"),
    ]
    for result in results:
        assert result.returncode == 0, result.stderr
        (line,) = result.stdout.splitlines()
        assert line == json.dumps(json.loads(line), separators=(",", ":"))
