"""Replicas of deskhook sharing one PostgreSQL database, in one process: an event ingested
through one is delivered by another without waiting for its timer. (Channel changes reaching
the other replicas are shown with real processes, in test_replicas.)"""

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
from tests.channels import add_channel
from tests.conftest import ADMIN_TOKEN, INGEST_TOKEN, AdminStub, IngestStub, running
from tests.events import make_event
from tests.receiver import Receiver

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
