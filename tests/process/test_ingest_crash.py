"""A server killed with SIGKILL mid-stream loses no acked event, and a producer that resends its
unacked tail after the restart creates no duplicates."""

import subprocess
from collections.abc import AsyncIterable, AsyncIterator

import grpc
import pytest

from deskhook.client import open_channel
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2, event_ingest_pb2_grpc, event_pb2
from deskhook.v1 import event_ingest_pb2 as pb
from tests.support.databases import fetch_rows
from tests.support.events import make_event
from tests.support.serve_process import serve_process
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN

EVENTS = 3000
PER_MESSAGE = 10
KILL_AFTER_ACKS = 800
SERVER_ARGS = (
    "--admin-token", ADMIN_TOKEN,
    "--ingest-token", INGEST_TOKEN,
    "--allow-network", "127.0.0.0/8",
)  # fmt: skip


def event_ids() -> list[str]:
    return [f"crash-{n}" for n in range(EVENTS)]


async def requests(ids: list[str]) -> AsyncIterator[pb.PublishEventsRequest]:
    for start in range(0, len(ids), PER_MESSAGE):
        chunk = ids[start : start + PER_MESSAGE]
        yield pb.PublishEventsRequest(events=[make_event(event_id) for event_id in chunk])


async def read_acks_then_kill(
    call: AsyncIterable[pb.PublishEventsResponse],
    acked: list[str],
    process: "subprocess.Popen[str]",
) -> None:
    """Collect acks; once KILL_AFTER_ACKS arrived, SIGKILL the server mid-stream."""
    async for response in call:
        acked.extend(ack.event_id for ack in response.acks)
        if len(acked) >= KILL_AFTER_ACKS and process.poll() is None:
            process.kill()


async def test_sigkill_mid_stream_loses_no_acked_event(database: str) -> None:
    acked: list[str] = []
    async with serve_process(database, SERVER_ARGS) as served:
        target = f"127.0.0.1:{served.port}"
        async with open_channel(target, ADMIN_TOKEN) as channel:
            await channel_admin_pb2_grpc.ChannelAdminStub(channel).CreateChannel(
                admin_pb.CreateChannelRequest(
                    channel=channel_pb2.Channel(
                        name="crm",
                        url="https://localhost:9/hook",
                        department_id=7,
                        subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
                    )
                )
            )
        async with open_channel(target, INGEST_TOKEN) as channel:
            call = event_ingest_pb2_grpc.EventIngestStub(channel).PublishEvents(
                requests(event_ids())
            )
            with pytest.raises(grpc.aio.AioRpcError) as broken:
                await read_acks_then_kill(call, acked, served.process)
        # UNAVAILABLE, or INTERNAL when the client was sending as the socket died.
        assert broken.value.code() in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL}
        assert served.process.wait(timeout=10) == -9
    assert KILL_AFTER_ACKS <= len(acked) < EVENTS

    stored = {row[0] for row in await fetch_rows(database, "SELECT event_id FROM events")}
    with_delivery = {
        row[0]
        for row in await fetch_rows(
            database, "SELECT e.event_id FROM events e JOIN deliveries d ON d.event_seq = e.seq"
        )
    }
    assert set(acked) <= stored
    assert set(acked) <= with_delivery

    unacked = [event_id for event_id in event_ids() if event_id not in set(acked)]
    async with (
        serve_process(database, SERVER_ARGS) as restarted,
        open_channel(f"127.0.0.1:{restarted.port}", INGEST_TOKEN) as channel,
    ):
        stub = event_ingest_pb2_grpc.EventIngestStub(channel)
        results = [
            ack.result
            async for response in stub.PublishEvents(requests(unacked))
            for ack in response.acks
        ]
    assert len(results) == len(unacked)
    assert set(results) <= {pb.EVENT_ACK_RESULT_ACCEPTED, pb.EVENT_ACK_RESULT_DUPLICATE}

    [(events, deliveries, doubled)] = await fetch_rows(
        database,
        "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM deliveries),"
        " (SELECT COUNT(*) FROM (SELECT event_seq FROM deliveries GROUP BY event_seq"
        "  HAVING COUNT(*) > 1) AS doubled)",
    )
    assert (events, deliveries, doubled) == (EVENTS, EVENTS, 0)
