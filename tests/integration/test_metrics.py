"""The metrics and probes endpoint, scraped over HTTP from a real server: counters move by
exactly what was ingested and attempted, per-channel gauges follow the store and the breaker,
and /readyz turns 503 as soon as shutdown begins."""

import asyncio
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deskhook.config import Settings
from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.server import DeskhookServer, StartupError
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import event_ingest_pb2 as pb
from tests.support.channels import add_channel
from tests.support.events import make_event
from tests.support.ingest import ACCEPTED, DUPLICATE, REJECTED, publish_stream
from tests.support.receiver import Answer, Receiver
from tests.support.server import AdminStub, IngestStub, running

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    text: str


async def fetch(port: int, path: str, accept: str = "") -> Reply:
    headers = {"Accept": accept} if accept else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as response,
    ):
        return Reply(response.status, response.headers["Content-Type"], await response.text())


async def scrape(server: DeskhookServer) -> Samples:
    reply = await fetch(server.metrics_port, "/metrics")
    assert reply.status == 200
    assert reply.content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_counters_and_gauges_move_with_ingest_and_attempts(
    server: DeskhookServer,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
) -> None:
    healthy, _ = await add_channel(admin, receiver, "/ok")
    receiver.respond_at("/fail", Answer(status=500))
    failing, _ = await add_channel(admin, receiver, "/fail", department_id=8)
    before = await scrape(server)

    delivered = [make_event(f"ok-{index}") for index in range(2)]
    # Five failures in a row open the failing channel's circuit.
    refused = [make_event(f"fail-{index}", department_id=8) for index in range(5)]
    acks = await publish_stream(ingest, delivered + refused, [make_event("ok-0")])
    assert [ack.result for ack in acks] == [ACCEPTED] * 7 + [DUPLICATE]
    await scheduler.drain()
    after = await scrape(server)

    events = "deskhook_events_ingested_total"
    assert moved(before, after, events, result="accepted") == 7
    assert moved(before, after, events, result="duplicate") == 1
    attempts = "deskhook_delivery_attempts_total"
    assert moved(before, after, attempts, outcome="delivered") == 2
    assert moved(before, after, attempts, outcome="retry_scheduled") == 5
    assert moved(before, after, attempts, outcome="given_up") == 0
    duration = "deskhook_attempt_duration_seconds"
    assert moved(before, after, f"{duration}_count") == 7
    assert moved(before, after, f"{duration}_bucket", le="+Inf") == 7
    assert moved(before, after, f"{duration}_sum") > 0

    pending, circuit = "deskhook_deliveries_pending", "deskhook_channel_circuit_open"
    assert value(before, pending, channel_id=failing) == 0
    assert value(after, pending, channel_id=failing) == 5
    assert value(after, pending, channel_id=healthy) == 0
    assert value(before, circuit, channel_id=failing) == 0
    assert value(after, circuit, channel_id=failing) == 1
    assert value(after, circuit, channel_id=healthy) == 0


async def test_rejected_events_are_counted_whichever_way_they_came(
    server: DeskhookServer, ingest: IngestStub
) -> None:
    before = await scrape(server)
    invalid = make_event("no-ticket", ticket_id=0)
    acks = await publish_stream(ingest, [make_event("fine"), invalid, invalid])
    assert [ack.result for ack in acks] == [ACCEPTED, REJECTED, REJECTED]
    with pytest.raises(grpc.aio.AioRpcError):
        await ingest.PublishEvent(pb.PublishEventRequest(event=invalid))
    after = await scrape(server)

    events = "deskhook_events_ingested_total"
    assert moved(before, after, events, result="rejected") == 3
    assert moved(before, after, events, result="accepted") == 1


async def test_a_deleted_channel_leaves_the_gauges(
    server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    series = ("deskhook_deliveries_pending", frozenset({("channel_id", channel_id)}))
    assert series in await scrape(server)

    await admin.DeleteChannel(admin_pb.DeleteChannelRequest(id=channel_id))
    assert series not in await scrape(server)


async def test_openmetrics_when_the_scraper_asks_for_it(server: DeskhookServer) -> None:
    reply = await fetch(server.metrics_port, "/metrics", accept="application/openmetrics-text")
    assert reply.status == 200
    assert reply.content_type.startswith("application/openmetrics-text")
    assert reply.text.endswith("# EOF\n")


async def test_ready_until_shutdown_begins_then_gone(
    server: DeskhookServer, ingest: IngestStub
) -> None:
    port = server.metrics_port
    assert (await fetch(port, "/livez")).status == 200
    assert (await fetch(port, "/readyz")).status == 200

    # An open stream holds stop() in its grace period until the producer finishes.
    call = ingest.PublishEvents()
    await call.write(pb.PublishEventsRequest(events=[make_event("evt-1")]))
    assert isinstance(await call.read(), pb.PublishEventsResponse)
    stopping = asyncio.create_task(server.stop(grace=30))
    assert (await fetch(port, "/readyz")).status == 503
    assert (await fetch(port, "/livez")).status == 200
    assert not stopping.done()

    await call.done_writing()
    await stopping
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(port, "/readyz")


async def test_taken_metrics_port_stops_start_up(
    server: DeskhookServer, settings: Settings, tmp_path: Path
) -> None:
    taken = f"127.0.0.1:{server.metrics_port}"
    second = settings.model_copy(
        update={"metrics_listen": taken, "database": str(tmp_path / "second.db")}
    )
    with pytest.raises(StartupError, match=rf"cannot listen on {taken} for metrics"):
        async with running(second):
            pass


async def test_empty_metrics_listen_turns_the_endpoint_off(settings: Settings) -> None:
    off = Settings.model_validate({**settings.model_dump(), "metrics_listen": ""})
    async with running(off) as server:
        assert server.metrics_port == 0
        assert server.port != 0
