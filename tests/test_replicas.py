"""Replicas sharing one PostgreSQL database deliver as one service: each channel's limits hold
over all of them, not per replica."""

import asyncio

import pytest

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.server import DeskhookServer, Tuning
from deskhook.v1 import event_ingest_pb2_grpc
from tests.channels import add_channel
from tests.conftest import INGEST_TOKEN, AdminStub, IngestStub, running
from tests.events import make_event
from tests.receiver import Answer, Receiver
from tests.test_delivery import deliveries, event_ids, publish

# The `database` fixture on PostgreSQL only: a SQLite file has one server.
pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)


async def test_two_replicas_never_send_a_channel_more_requests_at_once_than_its_limit(
    settings: Settings,
    tuning: Tuning,
    server: DeskhookServer,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
) -> None:
    await add_channel(admin, receiver, max_concurrency=1)
    receiver.respond(Answer(delay=0.02))
    published = [f"{replica}-{n}" for replica in "ab" for n in range(10)]
    async with (
        running(settings, tuning) as replica,
        open_channel(f"127.0.0.1:{replica.port}", INGEST_TOKEN) as replica_channel,
    ):
        # Each replica starts on the events it ingests at once, so both want the channel.
        await asyncio.gather(
            publish(ingest, *(make_event(event_id) for event_id in published[:10])),
            publish(
                event_ingest_pb2_grpc.EventIngestStub(replica_channel),
                *(make_event(event_id) for event_id in published[10:]),
            ),
        )
        await receiver.wait_for_requests(1 + len(published))
    assert sorted(event_ids(deliveries(receiver))) == sorted(published)
    assert receiver.most_answering == 1
