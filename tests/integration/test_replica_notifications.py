"""Replicas of deskhook sharing one PostgreSQL database, in one process: an event ingested
through one is delivered by another without waiting for its timer, and a channel's concurrency
holds over all of them together. (Channel changes reaching the other replicas are shown with
real processes, in test_replicas.)"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

import pytest

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.delivery.scheduler import SchedulerLimits
from deskhook.server import DeskhookServer, Tuning
from deskhook.v1 import channel_admin_pb2_grpc, event_ingest_pb2_grpc
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.channels import add_channel
from tests.support.delivery import deliveries, event_ids
from tests.support.delivery import publish as publish_events
from tests.support.events import make_event
from tests.support.receiver import Answer, Receiver, most_at_once
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, AdminStub, IngestStub, running

# Well within what the replicas promise (a second), and far below the idle timer of the test
# that must not wait for it.
PROMPTLY_SECONDS = 5


@pytest.fixture
def database(postgres_database: str) -> str:
    """Every replica's `database` setting: one PostgreSQL database."""
    return postgres_database


@asynccontextmanager
async def admin_of(server: DeskhookServer) -> AsyncIterator[AdminStub]:
    async with open_channel(f"127.0.0.1:{server.port}", ADMIN_TOKEN) as channel:
        yield channel_admin_pb2_grpc.ChannelAdminStub(channel)


@asynccontextmanager
async def ingest_of(server: DeskhookServer) -> AsyncIterator[IngestStub]:
    async with open_channel(f"127.0.0.1:{server.port}", INGEST_TOKEN) as channel:
        yield event_ingest_pb2_grpc.EventIngestStub(channel)


async def publish(server: DeskhookServer, event_id: str) -> int:
    """Publish one event through `server`; how many channels it matched."""
    async with ingest_of(server) as ingest:
        response = await ingest.PublishEvent(
            ingest_pb.PublishEventRequest(event=make_event(event_id))
        )
    assert response.ack.result == ingest_pb.EVENT_ACK_RESULT_ACCEPTED
    return response.ack.matched_channels


async def test_an_event_ingested_through_one_replica_is_sent_by_another_at_once(
    settings: Settings, tuning: Tuning, receiver: Receiver
) -> None:
    # Left alone, a scheduler with nothing due would sleep this long.
    sleepy = replace(tuning, scheduler_limits=SchedulerLimits(max_idle=timedelta(seconds=60)))
    async with running(settings, sleepy) as ingesting:
        async with admin_of(ingesting) as admin:
            await add_channel(admin, receiver)
        assert ingesting.scheduler is not None
        await ingesting.scheduler.stop(0)
        async with running(settings, sleepy):
            assert await publish(ingesting, "evt-1") == 1
            async with asyncio.timeout(PROMPTLY_SECONDS):
                _, delivery = await receiver.wait_for_requests(2)
        assert delivery.headers["x-deskhook-event-type"] == "ticket_create"


async def test_two_replicas_never_send_a_channel_more_requests_at_once_than_its_limit(
    settings: Settings, tuning: Tuning, receiver: Receiver
) -> None:
    receiver.respond(Answer(delay=0.02))
    published = [f"{replica}-{n}" for replica in "ab" for n in range(10)]
    async with running(settings, tuning) as first:
        async with admin_of(first) as admin:
            await add_channel(admin, receiver, max_concurrency=1)
        async with running(settings, tuning) as second:
            # Each replica starts on the events it ingests at once, so both want the channel.
            async with ingest_of(first) as one, ingest_of(second) as other:
                await asyncio.gather(
                    publish_events(one, *map(make_event, published[:10])),
                    publish_events(other, *map(make_event, published[10:])),
                )
            await receiver.wait_for_requests(1 + len(published))
            # Every attempt recorded before either stops: a stop would hand one in flight on.
            for server in (first, second):
                assert server.scheduler is not None
                await server.scheduler.drain()
    assert sorted(event_ids(deliveries(receiver))) == sorted(published)
    assert most_at_once(receiver.requests) == 1
