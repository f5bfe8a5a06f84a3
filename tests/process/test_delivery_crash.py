"""A server killed with SIGKILL while webhooks are in flight delivers every accepted event after
a restart on the same database: at least once, and a repeat only with the same `webhook-id`."""

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path

from standardwebhooks import Webhook

from deskhook.client import open_channel
from deskhook.v1 import channel_admin_pb2_grpc, event_ingest_pb2_grpc
from deskhook.v1 import event_ingest_pb2 as pb
from tests.support.channels import add_channel
from tests.support.events import make_event
from tests.support.receiver import Answer, ReceivedRequest, Receiver
from tests.support.serve_process import serve_process
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN

EVENTS = 300
PER_MESSAGE = 10
# Slow enough that the channel's 10 concurrent attempts are always mid-answer when the kill
# lands, fast enough that the first server gets through a few dozen before it.
SLOW_ANSWER = Answer(delay=0.3)
KILL_AFTER_DELIVERIES = 40
# Well below the 60 s claim lease: the attempts cut off by the kill make it in time only if
# start-up released their claims.
REDELIVERY_SECONDS = 30.0
# Generous: with the receiver answering, a graceful stop takes milliseconds.


def event_ids() -> list[str]:
    return [f"crash-{n}" for n in range(EVENTS)]


async def publish_requests(ids: list[str]) -> AsyncIterator[pb.PublishEventsRequest]:
    for start in range(0, len(ids), PER_MESSAGE):
        chunk = ids[start : start + PER_MESSAGE]
        yield pb.PublishEventsRequest(events=[make_event(event_id) for event_id in chunk])


def deliveries(received: list[ReceivedRequest]) -> list[ReceivedRequest]:
    """The requests that carried an event, not a connection test."""
    return [
        request
        for request in received
        if request.headers["x-deskhook-event-type"] != "connection_test"
    ]


def event_id_of(request: ReceivedRequest) -> str:
    event_id: str = json.loads(request.body)["event_id"]
    return event_id


async def missing_after(
    receiver: Receiver, wanted: set[str], *, since: int, seconds: float
) -> set[str]:
    """The events in `wanted` that have not arrived in a request after the first `since` within
    `seconds`; returns as soon as none is missing."""
    missing = set(wanted)
    seen = since
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                missing -= {event_id_of(r) for r in deliveries(receiver.requests[seen:])}
                seen = len(receiver.requests)
                if not missing:
                    break
                # Gives up by itself once no request has come for a while.
                await receiver.wait_for_requests(seen + 1)
    return missing - {event_id_of(r) for r in deliveries(receiver.requests[seen:])}


async def test_sigkill_with_deliveries_in_flight_loses_none(
    tmp_path: Path, database: str, receiver: Receiver
) -> None:
    server_args = (
        "--admin-token", ADMIN_TOKEN,
        "--ingest-token", INGEST_TOKEN,
        "--allow-network", "127.0.0.0/8",
        "--ca-bundle", str(receiver.write_ca(tmp_path / "receiver-ca.pem")),
    )  # fmt: skip

    async with serve_process(database, server_args) as served:
        target = f"127.0.0.1:{served.port}"
        async with open_channel(target, ADMIN_TOKEN) as channel:
            _, signing_secret = await add_channel(
                channel_admin_pb2_grpc.ChannelAdminStub(channel), receiver
            )
        # Only now: the connection test above was answered at once.
        connection_tests = len(receiver.requests)
        receiver.respond(SLOW_ANSWER)
        async with open_channel(target, INGEST_TOKEN) as channel:
            stub = event_ingest_pb2_grpc.EventIngestStub(channel)
            acks = [
                ack
                async for response in stub.PublishEvents(publish_requests(event_ids()))
                for ack in response.acks
            ]
        assert [ack.result for ack in acks] == [pb.EVENT_ACK_RESULT_ACCEPTED] * EVENTS
        accepted = {ack.event_id for ack in acks}

        await receiver.wait_for_requests(connection_tests + KILL_AFTER_DELIVERIES)
        killed_at = time.monotonic()
        served.process.kill()
        assert served.process.wait(timeout=10) == -9
        before_kill = deliveries(receiver.requests)
    # A request that arrived at least the answer's delay before the kill has had its 200 (or,
    # if this loop lagged, will come again: not required, but allowed). One that arrived later
    # was still held back when the process died: no 2xx reached the server, so it must be sent
    # again, like every event that had not gone out yet.
    answered = {
        event_id_of(request)
        for request in before_kill
        if request.arrived_at <= killed_at - SLOW_ANSWER.delay
    }
    unanswered = {event_id_of(request) for request in before_kill} - answered
    # The kill landed with attempts in flight, and before every event had gone out.
    assert unanswered
    assert len(answered | unanswered) < EVENTS

    receiver.respond(Answer())
    restarted_at = len(receiver.requests)
    async with serve_process(database, server_args) as restarted:
        # Everything not answered before the kill is sent again, the unanswered attempts
        # included: well within the claim lease, so the claims were released at start-up.
        missing = await missing_after(
            receiver, accepted - answered, since=restarted_at, seconds=REDELIVERY_SECONDS
        )
    assert not missing
    # The recovered server still shuts down cleanly.
    assert restarted.process.returncode == 0

    # Repeats are real webhooks too: the restarted server signs with the stored secret.
    webhook = Webhook(signing_secret)
    ids_by_event: defaultdict[str, set[str]] = defaultdict(set)
    events_by_id: defaultdict[str, set[str]] = defaultdict(set)
    for request in deliveries(receiver.requests):
        webhook.verify(request.body, dict(request.headers))
        ids_by_event[event_id_of(request)].add(request.headers["webhook-id"])
        events_by_id[request.headers["webhook-id"]].add(event_id_of(request))
    assert set(ids_by_event) == accepted
    # Repeats (the unanswered attempts, and any answered one whose success was not yet
    # recorded) carry the webhook-id of the first attempt, and no two events share one.
    assert {event: ids for event, ids in ids_by_event.items() if len(ids) > 1} == {}
    assert {id_: events for id_, events in events_by_id.items() if len(events) > 1} == {}
