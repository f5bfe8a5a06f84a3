"""Replicas sharing one PostgreSQL database, as real `deskhook serve` processes. With events
streamed to two and one killed with SIGKILL while deliveries are in flight, every acked event
arrives, repeats keep their webhook-id, and no webhook-id is ever in flight at both replicas at
once. A channel created through one replica gets the events ingested through another."""

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import psutil
from crash_loop import (
    ADMIN_TOKEN,
    INGEST_TOKEN,
    Producer,
    Report,
    create_channel,
    is_event,
    settle,
)
from standardwebhooks import Webhook

from deskhook.client import open_channel
from deskhook.v1 import channel_admin_pb2_grpc, event_ingest_pb2_grpc
from deskhook.v1 import event_ingest_pb2 as pb
from tests.support.channels import add_channel
from tests.support.events import make_event
from tests.support.receiver import Answer, ReceivedRequest, Receiver, most_at_once
from tests.support.serve_process import ServeProcess, delivery_flags, serve_process
from tests.support.server import IngestStub

# The replicas send a channel 10 requests at a time between them; answered this slowly, they
# deliver about 50 webhooks/s while the producer streams 200 events/s (100 to each): a backlog
# builds and both replicas have attempts in flight.
SLOW_ANSWER = Answer(delay=0.2)
RATE_PER_REPLICA = 100
KILL_AFTER_DELIVERIES = 150
# What the survivor gets to deliver the backlog; it needs a few seconds.
SETTLE_SECONDS = 20.0
# Replicas learn of each other's channel changes asynchronously: an ingest through B matches a
# channel created through A within this long, or the test fails.
PROPAGATION_SECONDS = 5.0
PROBE_PAUSE = 0.05
# How long the doomed replica may take to have a webhook in flight once the backlog is there.
# The survivor, refilling the slots it frees at once, can hold all ten for seconds on a loaded
# machine (10 s was seen to fall short once): a bound, not a wait.
IN_FLIGHT_SECONDS = 30.0
IN_FLIGHT_POLL = 0.005


def target(served: ServeProcess) -> str:
    return f"127.0.0.1:{served.port}"


async def wait_until_sending(served: ServeProcess, receiver: Receiver) -> None:
    """Returns while `served` has a request open at the receiver, found by its connection's
    port: with the two replicas sharing the channel's slots, the doomed one may hold none at the
    moment a fixed count of deliveries is reached, and a kill then cuts nothing short."""
    process = psutil.Process(served.process.pid)
    deadline = time.monotonic() + IN_FLIGHT_SECONDS
    while time.monotonic() < deadline:
        ports = {connection.laddr.port for connection in process.net_connections("tcp")}
        if any(r.ended_at is None and r.peer[1] in ports for r in receiver.requests):
            return
        await asyncio.sleep(IN_FLIGHT_POLL)
    raise AssertionError(f"the replica had no webhook in flight for {IN_FLIGHT_SECONDS} s")


def overlapping(requests: Sequence[ReceivedRequest]) -> set[str]:
    """The webhook-ids of which two requests were in flight at once."""
    by_id: defaultdict[str, list[ReceivedRequest]] = defaultdict(list)
    for request in requests:
        by_id[request.headers["webhook-id"]].append(request)
    return {webhook_id for webhook_id, same in by_id.items() if most_at_once(same) > 1}


async def test_sigkill_of_one_replica_loses_nothing_and_never_sends_twice_at_once(
    tmp_path: Path, postgres_database: str, receiver: Receiver
) -> None:
    flags = delivery_flags(ADMIN_TOKEN, INGEST_TOKEN, receiver.write_ca(tmp_path / "ca.pem"))
    producer = Producer(RATE_PER_REPLICA)
    async with serve_process(postgres_database, flags) as doomed:
        await create_channel(target(doomed), receiver)
        # Started once the channel exists: a replica reads the channels when it starts.
        async with serve_process(postgres_database, flags) as survivor:
            receiver.respond(SLOW_ANSWER)
            streams = [
                asyncio.create_task(producer.stream(target(served)))
                for served in (doomed, survivor)
            ]
            # The connection test, then deliveries from both replicas.
            await receiver.wait_for_requests(1 + KILL_AFTER_DELIVERIES)
            await wait_until_sending(doomed, receiver)
            doomed.process.kill()
            assert await asyncio.to_thread(doomed.process.wait) == -9
            # Sends the survivor what the dead replica never acked, and waits until every acked
            # event has arrived and every attempt the receiver saw is in the log.
            logged = await settle(producer, receiver, target(survivor), SETTLE_SECONDS)
            await asyncio.gather(*streams)
    report = Report(
        kills=1,
        acked=producer.acked,
        rejected=producer.rejected,
        requests=[request for request in receiver.requests if is_event(request)],
        logged=logged,
    )
    # Nothing acked lost, repeats under their first webhook-id only, the log complete.
    assert report.ok, "\n".join(report.lines())
    # The kill cut attempts short, and the survivor sent them again.
    assert report.repeats > 0
    assert overlapping(report.requests) == set()


async def publish_until_matched(ingest: IngestStub) -> str | None:
    """Publish an event every PROBE_PAUSE until one matches a channel: its id, or None after
    PROPAGATION_SECONDS. The replica's ack is the only sign from another process that it
    knows the channel, so this polls."""
    deadline = time.monotonic() + PROPAGATION_SECONDS
    for n in range(int(PROPAGATION_SECONDS / PROBE_PAUSE) + 1):
        response = await ingest.PublishEvent(pb.PublishEventRequest(event=make_event(f"probe-{n}")))
        assert response.ack.result == pb.EVENT_ACK_RESULT_ACCEPTED
        if response.ack.matched_channels:
            return response.ack.event_id
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(PROBE_PAUSE)
    return None


async def test_a_channel_created_through_one_replica_gets_events_ingested_through_another(
    tmp_path: Path, postgres_database: str, receiver: Receiver
) -> None:
    flags = delivery_flags(ADMIN_TOKEN, INGEST_TOKEN, receiver.write_ca(tmp_path / "ca.pem"))
    async with (
        serve_process(postgres_database, flags) as a,
        serve_process(postgres_database, flags) as b,
    ):
        async with open_channel(target(a), ADMIN_TOKEN) as channel:
            channel_id, secret = await add_channel(
                channel_admin_pb2_grpc.ChannelAdminStub(channel), receiver
            )
        async with open_channel(target(b), INGEST_TOKEN) as channel:
            event_id = await publish_until_matched(event_ingest_pb2_grpc.EventIngestStub(channel))
        assert event_id is not None, "replica B never matched the channel created through A"
        # The connection test, then the event, signed with the secret A handed out.
        _, delivered = await receiver.wait_for_requests(2)
    payload = Webhook(secret).verify(delivered.body, dict(delivered.headers))
    assert (payload["event_id"], payload["channel_id"]) == (event_id, channel_id)
