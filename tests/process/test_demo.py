"""`deskhook demo`: run as a new user runs it, it delivers every event type to its receiver, which
verifies each one; its parts (receiver, verdict, sample events) do what the run relies on."""

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from deskhook.api.event_validation import published_event
from deskhook.cli.enums import EVENT_TYPES, TICKET_EVENT_TYPES
from deskhook.demo.receiver import Arrival, VerifyingReceiver
from deskhook.demo.report import Tally, problems
from deskhook.demo.samples import SUPPORT_ID, sample_events
from deskhook.domain.signing import new_secret, secret_key, webhook_headers
from deskhook.v1 import channel_pb2
from tests.support.serve_process import deskhook_command

TIMEOUT_SECONDS = 60
# A row of the summary's table: event type, deliveries, verified requests.
SUMMARY_ROW = re.compile(r"^\s+(ticket_\w+)\s+(\d+)\s+(\d+)$", re.MULTILINE)
# The time column of a row of the live log.
LOG_TIME = re.compile(r"^  (\d\d:\d\d:\d\d\.\d{3})  ", re.MULTILINE)


def demo_command(*args: str) -> list[str]:
    return deskhook_command("demo", *args)


def demo_env(tmp_path: Path) -> dict[str, str]:
    # The demo's temporary directory lands here, where the test can see it is gone.
    return {**os.environ, "TMPDIR": str(tmp_path)}


def test_short_demo_delivers_and_verifies_every_event_type(tmp_path: Path) -> None:
    result = subprocess.run(
        demo_command("--short"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        env=demo_env(tmp_path),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {
        name: (int(delivered), int(verified))
        for name, delivered, verified in SUMMARY_ROW.findall(result.stdout)
    }
    assert set(rows) == set(TICKET_EVENT_TYPES)
    assert all(delivered >= 1 and verified >= 1 for delivered, verified in rows.values()), rows
    # The log was shown as it filled, the receiver's one refusal retried.
    assert result.stdout.count("verified ✓") >= len(TICKET_EVENT_TYPES)
    assert "retry_scheduled" in result.stdout
    assert "Every event type was delivered and verified" in result.stdout
    # A console link the demo signed in with itself before it showed it.
    assert re.search(r"^console {12}http://127\.0\.0\.1:\d+/#token=\S+$", result.stdout, re.M)
    assert list(tmp_path.iterdir()) == []
    # Each attempt is shown as it ends, stamped with when it started: in time order.
    times = LOG_TIME.findall(result.stdout)
    assert len(times) > len(TICKET_EVENT_TYPES)
    assert times == sorted(times)


def test_ctrl_c_while_watching_shuts_everything_down(tmp_path: Path) -> None:
    process = subprocess.Popen(
        demo_command("--tickets", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=demo_env(tmp_path),
    )
    assert process.stdout is not None
    # The paced run is still publishing when its first delivery is shown.
    for line in process.stdout:
        if "ticket_create" in line:
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


async def post(receiver: VerifyingReceiver, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(receiver.url, data=body, headers=headers) as response,
    ):
        return response.status


def signed(
    secret: str, webhook_id: str, event_type: str, attempt: int = 1
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"event_id": webhook_id, "event_type": event_type}).encode()
    headers = webhook_headers(
        keys=[secret_key(secret)],
        webhook_id=webhook_id,
        timestamp=int(time.time()),
        body=body,
        event_type=event_type,
        attempt=attempt,
    )
    return body, headers


async def test_receiver_verifies_rejects_forgeries_and_stumbles_once() -> None:
    secret, other_secret = new_secret(bytes(32)), new_secret(bytes(range(32)))
    receiver = VerifyingReceiver(stumble_on="ticket_comment")
    await receiver.start()
    try:
        # Before the secret is known: the connection test CreateChannel runs.
        assert await post(receiver, *signed(secret, "msg_test", "connection_test")) == 200
        receiver.trust(secret)
        assert await post(receiver, *signed(other_secret, "msg_forged", "ticket_create")) == 401
        assert await post(receiver, *signed(secret, "msg_create", "ticket_create")) == 200
        assert await post(receiver, *signed(secret, "msg_comment", "ticket_comment")) == 503
        assert await post(receiver, *signed(secret, "msg_comment", "ticket_comment", 2)) == 200
    finally:
        await receiver.stop()
    assert receiver.connection_tests == 1
    assert receiver.rejected == 1
    assert receiver.arrivals[("msg_forged", "1")] == Arrival(verified=False, status=401)
    assert receiver.arrivals[("msg_comment", "1")] == Arrival(True, 503)
    assert receiver.verified == {"ticket_create": {"msg_create"}, "ticket_comment": {"msg_comment"}}


def log_entry(
    event_type: str, outcome: channel_pb2.DeliveryOutcome.ValueType
) -> channel_pb2.DeliveryLogEntry:
    return channel_pb2.DeliveryLogEntry(event_type=EVENT_TYPES.value(event_type), outcome=outcome)


def test_demo_fails_unless_every_type_is_delivered_verified_and_nothing_is_rejected() -> None:
    tally = Tally()
    for event_type in TICKET_EVENT_TYPES:
        tally.add(log_entry(event_type, channel_pb2.DELIVERY_OUTCOME_DELIVERED), Arrival(True))
    verified = dict.fromkeys(TICKET_EVENT_TYPES, 1)
    assert problems(tally, verified, rejected=0) == []
    assert problems(tally, {**verified, "ticket_rating": 0}, rejected=0) == [
        "ticket_rating: nothing delivered and verified"
    ]
    assert problems(tally, verified, rejected=2) == ["2 requests failed signature verification"]
    tally.add(log_entry("ticket_close", channel_pb2.DELIVERY_OUTCOME_GIVEN_UP), None)
    assert problems(tally, verified, rejected=0) == ["1 deliveries were given up"]


def test_sample_events_are_valid_and_each_ticket_lives_through_all_twelve_types() -> None:
    start = datetime.now(UTC)
    events = sample_events(5, start, timedelta(seconds=1))
    now_seconds = int(start.timestamp()) + len(events)
    published = [published_event(event, now_seconds) for event in events]
    assert (
        len({event.event_id for event in published}) == len(events) == 5 * len(TICKET_EVENT_TYPES)
    )
    types_by_ticket = Counter((event.ticket_id, event.event_type) for event in published)
    assert set(types_by_ticket.values()) == {1}
    assert len(types_by_ticket) == 5 * len(TICKET_EVENT_TYPES)
    # Every event is one of the watched department's: all of them reach the demo's channel.
    assert all(SUPPORT_ID in event.department_ids for event in published)
    times = [event.occurred_at_micros for event in published]
    assert times == sorted(times)
