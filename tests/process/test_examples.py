"""The examples in examples/, each run as its first lines say, against a real `deskhook serve`:
every receiver (Python, Node.js, PHP) prints each event once and answers a bad signature 400;
every publisher (Python and Node.js over gRPC, PHP over the JSON API) publishes
examples/events.jsonl, and its events are acked and delivered as written.

The receivers share one server, each with a channel, a department and events of its own. Each
publisher has a server of its own: they all publish the same event ids."""

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from deskhook.client import open_channel
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2, event_ingest_pb2_grpc, event_pb2
from tests.support.channels import add_channel
from tests.support.cli_runner import CliResult
from tests.support.delivery import DELIVERED, deliveries, publish
from tests.support.events import make_event
from tests.support.processes import finished, lines, listening
from tests.support.receiver import Receiver
from tests.support.serve_process import ServeProcess, delivery_flags, serve_process
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, AdminStub

# One event loop for the module: the shared server lives across its tests.
pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STEP_SECONDS = 20.0
# Replays older than this are refused by every receiver (Standard Webhooks' tolerance).
TOLERANCE_SECONDS = 5 * 60
OTHER_SECRET = "whsec_" + base64.b64encode(b"not the channel's secret").decode()
DEPARTMENTS = itertools.count(100)
COMPLAINTS = re.compile("Traceback|Error|Warning|Notice|Deprecated")


def program(name: str) -> str:
    """`name`'s path; fails (never skips: CI must run these) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: scripts/test installs PHP, and needs Node.js 20+")
    return path


def node() -> str:
    if not (EXAMPLES / "node_modules").is_dir():
        pytest.fail("examples/ has no node_modules: run scripts/test, which runs npm ci there")
    return program("node")


# The command that runs each example, as its first lines say; a receiver's is given its port.
RECEIVERS: dict[str, Callable[[int], list[str]]] = {
    "python": lambda _: [sys.executable, str(EXAMPLES / "receiver.py")],
    "node": lambda _: [node(), str(EXAMPLES / "receiver.js")],
    "php": lambda port: [program("php"), "-S", f"127.0.0.1:{port}", str(EXAMPLES / "receiver.php")],
}
PUBLISHERS: dict[str, Callable[[], list[str]]] = {
    "python": lambda: [sys.executable, str(EXAMPLES / "publish.py")],
    "node": lambda: [node(), str(EXAMPLES / "publish.js")],
    "php": lambda: [program("php"), str(EXAMPLES / "publish.php")],
}
# How each publisher tells of an event the server refused: gRPC acks it REJECTED, the JSON API's
# PublishEvent answers an error.
REFUSED = {
    "python": "EVENT_ACK_RESULT_REJECTED rating.score: must be from 1 to 5",
    "node": "EVENT_ACK_RESULT_REJECTED rating.score: must be from 1 to 5",
    "php": "invalid_argument: event.rating.score: must be from 1 to 5",
}


@asynccontextmanager
async def running(
    command: list[str], port: int, env: dict[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A receiver, once it accepts connections on `port`; stopped on the way out."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        # Read at the end: a few lines per request, far from filling the pipe.
        stderr=asyncio.subprocess.PIPE,
        # Unbuffered: each line is printed as the request is handled, as in a terminal.
        env={**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1", **env},
        cwd=ROOT,
    )
    try:
        if started := await listening(process, port, STEP_SECONDS):
            yield process
    finally:
        if process.returncode is None:
            process.terminate()
        async with asyncio.timeout(STEP_SECONDS):
            _, stderr = await process.communicate()
    complaints = stderr.decode(errors="replace")
    assert started, f"{command} exited before it listened: {complaints}"
    # A Python traceback, a Node.js uncaught error, a PHP warning: none, whatever was sent.
    assert not COMPLAINTS.search(complaints), complaints


async def printed(receiver: asyncio.subprocess.Process, count: int) -> list[str]:
    return await lines(receiver.stdout, count, STEP_SECONDS)


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """A Standard Webhooks `v1,` signature (docs/design.md §4)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.digest(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest).decode()


async def post(url: str, body: bytes, webhook_id: str, timestamp: int, signatures: str) -> int:
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
    timeout = aiohttp.ClientTimeout(total=STEP_SECONDS)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status


async def redeliver(admin: AdminStub, channel_id: str, event_id: str) -> None:
    """Sends the event again; returns once its second attempt is logged delivered, so answered
    by the receiver."""
    watch = admin.WatchDeliveryLog(admin_pb.WatchDeliveryLogRequest(channel_id=channel_id))
    # Headers mean the watch is registered: it sees every later attempt.
    await watch.initial_metadata()
    try:
        await admin.Redeliver(admin_pb.RedeliverRequest(channel_id=channel_id, event_id=event_id))
        async with asyncio.timeout(STEP_SECONDS):
            async for response in watch:
                if response.entry.event_id == event_id:
                    assert (response.entry.attempt, response.entry.outcome) == (2, DELIVERED)
                    return
    finally:
        watch.cancel()
    raise AssertionError("the webhook log's watch ended before the redelivery")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServeProcess]:
    """The walkthrough's server: plain HTTP to receivers on this machine admitted."""
    database = tmp_path_factory.mktemp("examples") / "deskhook.db"
    flags = ("--admin-token", ADMIN_TOKEN, "--ingest-token", INGEST_TOKEN, "--allow-http",
             "--allow-network", "127.0.0.0/8")  # fmt: skip
    async with serve_process(str(database), flags) as served:
        yield served


@pytest.mark.parametrize("language", RECEIVERS)
async def test_receiver_prints_each_event_once_and_refuses_a_bad_signature(
    language: str, shared_server: ServeProcess, tmp_path: Path, closed_port: int
) -> None:
    address, department = f"127.0.0.1:{shared_server.port}", next(DEPARTMENTS)
    url = f"http://127.0.0.1:{closed_port}/webhooks"
    async with (
        open_channel(address, ADMIN_TOKEN) as admin_channel,
        open_channel(address, INGEST_TOKEN) as ingest_channel,
    ):
        admin = channel_admin_pb2_grpc.ChannelAdminStub(admin_channel)
        ingest = event_ingest_pb2_grpc.EventIngestStub(ingest_channel)
        channel = channel_pb2.Channel(
            name=f"{language} receiver",
            url=url,
            department_id=department,
            subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
        )
        created = await admin.CreateChannel(admin_pb.CreateChannelRequest(channel=channel))
        channel_id, secret = created.channel.id, created.signing_secret
        # The PHP receiver keeps the webhook-ids it handled in a file.
        env = {"WEBHOOK_SECRET": secret, "SEEN_IDS_FILE": str(tmp_path / "seen")}
        async with running(RECEIVERS[language](closed_port), closed_port, env) as receiver:
            tested = await admin.TestConnection(
                admin_pb.TestConnectionRequest(channel_id=channel_id)
            )
            assert tested.connection_status.state == channel_pb2.CONNECTION_STATE_ESTABLISHED
            assert await printed(receiver, 1) == ["connection_test "]

            events = [
                make_event(f"{language}-{ticket}", department_id=department, ticket_id=ticket)
                for ticket in (1, 2, 3, 4)
            ]
            await publish(ingest, *events[:3])
            assert sorted(await printed(receiver, 3)) == [
                f"ticket_create HD-{n}" for n in (1, 2, 3)
            ]

            # A redelivery carries the same webhook-id: answered, not printed again. The next
            # line printed is the next event's.
            await redeliver(admin, channel_id, events[0].event_id)
            await publish(ingest, events[3])
            assert await printed(receiver, 1) == ["ticket_create HD-4"]

            ticket = {"unique_id": "HD-5"}
            body = json.dumps({"event_type": "ticket_create", "ticket": ticket}).encode()
            now, webhook_id = int(time.time()), "msg_signed_by_the_test"
            right = signature(secret, webhook_id, now, body)
            wrong = signature(OTHER_SECRET, webhook_id, now, body)
            stale = now - TOLERANCE_SECONDS - 60
            assert await post(url, body, webhook_id, now, wrong) == 400
            signed_stale = signature(secret, webhook_id, stale, body)
            assert await post(url, body, webhook_id, stale, signed_stale) == 400
            # During a rotation one of the signatures is the receiver's: accepted.
            assert await post(url, body, webhook_id, now, f"{wrong} {right}") == 204
            # Nothing was printed for the refused ones.
            assert await printed(receiver, 1) == ["ticket_create HD-5"]


def listening_record(served: ServeProcess) -> dict[str, Any]:
    """The server's "listening" log line, which names its ports."""
    for line in served.log_lines:
        record: dict[str, Any] = json.loads(line) if line.startswith("{") else {}
        if record.get("event") == "listening":
            return record
    raise AssertionError("the server logged no listening line")


async def run_publisher(language: str, served: ServeProcess, events: Path) -> CliResult:
    console_port = listening_record(served)["console_port"]
    process = await asyncio.create_subprocess_exec(
        *PUBLISHERS[language](),
        str(events),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "DESKHOOK_TOKEN": INGEST_TOKEN,
            "DESKHOOK_SERVER": f"127.0.0.1:{served.port}",
            "DESKHOOK_API_URL": f"http://127.0.0.1:{console_port}",
        },
        cwd=ROOT,
    )
    stdout, stderr = await finished(process, STEP_SECONDS)
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


def ticket_and_detail(event: dict[str, Any]) -> dict[str, Any]:
    """What a webhook carries of an event as published (proto3 JSON): the ticket and the
    detail."""
    return {key: event[key] for key in ("ticket", "post") if key in event}


# Every kind of value proto3 JSON gives the well-known types, as the server writes them back:
# times to the nanosecond, and Struct values of each kind.
RICH_EVENT = {
    "event_id": "evt-rich-1",
    "event_type": "EVENT_TYPE_TICKET_ANSWER",
    "occurred_at": "2026-11-28T09:00:00.123456789Z",
    "ticket": {
        "id": "1001",
        "unique_id": "HD-1001",
        "department_id": "1",
        "create_time": "2026-11-27T08:00:00.500Z",
        "custom_fields": {
            "seats": 12.5,
            "gold": True,
            "none": None,
            "list": ["a", 1.0],
            "nested": {"key": "value"},
        },
        "tags": ["hardware"],
    },
    "post": {
        "id": "9",
        "text": "Try this.",
        "files": [{"name": "fix.png", "url": "https://files.example/fix.png", "size_bytes": "12"}],
    },
}
REFUSED_EVENT = {
    "event_id": "evt-refused-1",
    "event_type": "EVENT_TYPE_TICKET_RATING",
    "occurred_at": "2026-11-28T09:00:00Z",
    "ticket": {"id": "1001", "department_id": "1"},
    "rating": {"score": 9},
}


@pytest.mark.parametrize("language", PUBLISHERS)
async def test_publisher_publishes_the_events_file_and_they_arrive(
    language: str, tmp_path: Path
) -> None:
    events_file = EXAMPLES / "events.jsonl"
    written = [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines()]
    async with Receiver() as receiver:
        flags = delivery_flags(ADMIN_TOKEN, INGEST_TOKEN, receiver.write_ca(tmp_path / "ca.pem"))
        async with (
            serve_process(str(tmp_path / "deskhook.db"), flags) as served,
            open_channel(f"127.0.0.1:{served.port}", ADMIN_TOKEN) as admin_channel,
        ):
            admin = channel_admin_pb2_grpc.ChannelAdminStub(admin_channel)
            subscriptions = [event_pb2.EventType.Value(event["event_type"]) for event in written]
            await add_channel(admin, receiver, department_id=1, subscriptions=subscriptions)

            published = await run_publisher(language, served, events_file)
            assert published.returncode == 0, published.stderr
            assert published.stdout.splitlines() == [
                f"{event['event_id']} EVENT_ACK_RESULT_ACCEPTED matched_channels=1"
                for event in written
            ]
            # The channel's connection test, then the events.
            await receiver.wait_for_requests(1 + len(written))
            arrived = {
                (body := json.loads(request.body))["event_id"]: ticket_and_detail(body)
                for request in deliveries(receiver)
            }
            assert arrived == {event["event_id"]: ticket_and_detail(event) for event in written}

            more = tmp_path / "more.jsonl"
            more.write_text(f"{json.dumps(RICH_EVENT)}\n{json.dumps(REFUSED_EVENT)}\n")
            published = await run_publisher(language, served, more)
            assert published.returncode == 1, published.stderr
            assert published.stdout.splitlines() == [
                "evt-rich-1 EVENT_ACK_RESULT_ACCEPTED matched_channels=1",
                f"evt-refused-1 {REFUSED[language]}",
            ]
            (request,) = (await receiver.wait_for_requests(2 + len(written)))[-1:]
            assert ticket_and_detail(json.loads(request.body)) == ticket_and_detail(RICH_EVENT)
