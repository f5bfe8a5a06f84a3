"""`deskhook log` and `deskhook redeliver` against real deliveries to the test receiver; `log
--follow` as a long-running process that prints attempts as they happen and stops on Ctrl-C."""

import asyncio
import json
import signal
from datetime import UTC, datetime

import pytest

from deskhook.cli import build_parser
from deskhook.cli.log import log_request
from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.server import DeskhookServer
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_pb2, event_pb2
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.channels import add_channel
from tests.support.cli_runner import RUN_SECONDS, Cli
from tests.support.events import make_event
from tests.support.receiver import Answer, Receiver
from tests.support.server import ADMIN_TOKEN, AdminStub, IngestStub


@pytest.fixture
def cli(server: DeskhookServer) -> Cli:
    return Cli(server.port, ADMIN_TOKEN)


async def publish(ingest: IngestStub, *event_ids: str, first_ticket: int = 1) -> None:
    for ticket_id, event_id in enumerate(event_ids, start=first_ticket):
        event = make_event(event_id, ticket_id=ticket_id)
        await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=event))


def delivered_ids(receiver: Receiver) -> list[str]:
    return [
        json.loads(request.body)["event_id"]
        for request in receiver.requests
        if request.headers["x-deskhook-event-type"] != "connection_test"
    ]


@pytest.fixture
async def one_failed(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> str:
    """A channel without retries: `lost` was given up after a 500, `kept` delivered."""
    channel_id, _ = await add_channel(admin, receiver, retries_enabled=False)
    receiver.queue(Answer(status=500, body=b"down"))
    # One at a time: claimed together, the two would race for the 500.
    await publish(ingest, "lost")
    await scheduler.drain()
    await publish(ingest, "kept", first_ticket=2)
    await scheduler.drain()
    return channel_id


async def test_log_filters_and_tables(cli: Cli, one_failed: str) -> None:
    failed = await cli.run(
        "log", "--channel", one_failed, "--outcome", "given_up", "--since", "1h", "--json"
    )
    assert failed.returncode == 0, failed.stderr
    (entry,) = failed.json_lines()
    assert (entry["event_id"], entry["http_status"], entry["response_body"]) == (
        "lost",
        500,
        "down",
    )
    assert entry["outcome"] == "DELIVERY_OUTCOME_GIVEN_UP"

    table = await cli.run("log", "--channel", one_failed)
    assert table.returncode == 0, table.stderr
    # Newest first. Columns: time (two words), channel, event, type, ticket, attempt, HTTP...
    rows = [line.split() for line in table.stdout.splitlines()[2:]]
    assert [row[3:9] for row in rows] == [
        ["kept", "ticket_create", "HD-2", "1", "200", "delivered"],
        ["lost", "ticket_create", "HD-1", "1", "500", "given_up:"],
    ]


@pytest.mark.parametrize("follow", [[], ["--follow"]])
async def test_an_unknown_channel_is_not_found(cli: Cli, follow: list[str]) -> None:
    result = await cli.run("log", "--channel", "ch_nope", *follow)
    first_line = result.failure().splitlines()[0]
    assert "NOT_FOUND" in first_line
    assert "channel 'ch_nope' does not exist" in first_line
    assert result.stdout == ""


async def test_redeliver_failures_since_and_one_event(
    cli: Cli, one_failed: str, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    since = await cli.run("redeliver", one_failed, "--failed-since", "1h", "--json")
    assert since.returncode == 0, since.stderr
    assert since.json_lines() == [{"scheduled_deliveries": 1}]
    await scheduler.drain()
    assert delivered_ids(receiver) == ["lost", "kept", "lost"]

    one = await cli.run("redeliver", one_failed, "--event-id", "kept")
    assert (one.returncode, one.stdout) == (0, "deliveries scheduled again: 1\n")
    await scheduler.drain()
    assert delivered_ids(receiver)[-1] == "kept"


@pytest.mark.parametrize("as_json", [True, False])
async def test_follow_prints_attempts_live_until_ctrl_c(
    cli: Cli,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    as_json: bool,
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    process = await cli.start(
        "log", "--follow", "--channel", channel_id, *(["--json"] if as_json else [])
    )
    assert process.stdout is not None
    assert process.stderr is not None
    async with asyncio.timeout(RUN_SECONDS):
        # Said once the server has registered the watcher: every later attempt is streamed.
        notice = await process.stderr.readline()
        assert notice == b"deskhook: following the webhook log; Ctrl-C stops\n"
        await publish(ingest, "live-1")
        await scheduler.drain()
        line = (await process.stdout.readline()).decode()
        process.send_signal(signal.SIGINT)
        returncode = await process.wait()
    if as_json:
        entry = json.loads(line)
        assert (entry["event_id"], entry["outcome"]) == ("live-1", "DELIVERY_OUTCOME_DELIVERED")
    else:
        # The columns of the `log` table, one line per attempt as it happens.
        assert line.split()[2:9] == [
            channel_id,
            "live-1",
            "ticket_create",
            "HD-1",
            "1",
            "200",
            "delivered",
        ]
    assert returncode == 130
    assert await process.stderr.read() == b""


async def test_follow_says_when_the_server_ends_the_stream(
    cli: Cli, server: DeskhookServer
) -> None:
    process = await cli.start("log", "--follow")
    assert process.stderr is not None
    async with asyncio.timeout(RUN_SECONDS):
        await process.stderr.readline()  # following
        await server.stop(grace=0)
        returncode = await process.wait()
    told = (await process.stderr.read()).decode()
    assert (returncode, told) == (
        1,
        f"deskhook: the server at 127.0.0.1:{server.port} ended the stream; it may be"
        " shutting down: run the command again to follow on\n",
    )


async def test_follow_takes_no_list_filters(cli: Cli) -> None:
    result = await cli.run("log", "--follow", "--outcome", "given_up")
    assert "--follow filters by --channel and --account only" in result.failure(returncode=2)


def test_every_filter_reaches_the_request() -> None:
    options = build_parser().parse_args(
        ["log", "--channel", "ch_a", "--ticket", "12", "--event", "ticket_close",
         "--event-id", "evt-9", "--outcome", "retry_scheduled",
         "--since", "2026-11-28T10:00:00Z", "--until", "2026-11-28T11:00:00Z"]
    )  # fmt: skip
    request = admin_pb.ListDeliveryLogRequest(
        channel_id="ch_a",
        ticket_id=12,
        event_type=event_pb2.EVENT_TYPE_TICKET_CLOSE,
        event_id="evt-9",
        outcome=channel_pb2.DELIVERY_OUTCOME_RETRY_SCHEDULED,
    )
    request.start_time.FromDatetime(datetime(2026, 11, 28, 10, tzinfo=UTC))
    request.end_time.FromDatetime(datetime(2026, 11, 28, 11, tzinfo=UTC))
    assert log_request(options) == request


@pytest.mark.parametrize("command", [["log"], ["channels", "list"]])
async def test_a_mistyped_flag_shows_its_commands_usage(command: list[str]) -> None:
    result = await Cli(1, None).run(*command, "--folow")
    told = result.failure(returncode=2)
    name = " ".join(command)
    assert told.startswith(f"usage: deskhook {name} ")
    assert told.endswith(f"deskhook {name}: error: unrecognized arguments: --folow\n")


async def test_empty_listings_say_so_to_people_and_nothing_in_json(cli: Cli) -> None:
    for command, told in ((["log"], "no entries\n"), (["channels", "list"], "no channels\n")):
        shown, as_json = await cli.run(*command), await cli.run(*command, "--json")
        assert (shown.returncode, shown.stdout, shown.stderr) == (0, told, "")
        assert (as_json.returncode, as_json.stdout, as_json.stderr) == (0, "", "")


async def test_log_account_filter_lists_one_accounts_attempts(
    cli: Cli, admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    await add_channel(admin, receiver)
    await add_channel(admin, receiver, account_id="acme")
    for account_id, event_id in (("", "ours"), ("acme", "theirs")):
        event = make_event(event_id)
        event.account_id = account_id
        await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=event))
    await scheduler.drain()

    def listed(result_lines: list[dict[str, object]]) -> list[tuple[object, object]]:
        return [(entry.get("account_id", ""), entry["event_id"]) for entry in result_lines]

    acme = await cli.run("log", "--account", "acme", "--json")
    assert acme.returncode == 0, acme.stderr
    assert listed(acme.json_lines()) == [("acme", "theirs")]
    default = await cli.run("log", "--account", "", "--json")
    assert listed(default.json_lines()) == [("", "ours")]
    every = await cli.run("log", "--json")
    assert sorted(listed(every.json_lines())) == [("", "ours"), ("acme", "theirs")]
