"""The load the benchmarks put on a server: a channel to deliver to, and events streamed in,
as fast as flow control lets or paced."""

import asyncio
import gc
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from deskhook.client import open_channel
from deskhook.v1 import (
    channel_admin_pb2,
    channel_admin_pb2_grpc,
    channel_pb2,
    event_ingest_pb2_grpc,
    event_pb2,
)
from deskhook.v1 import event_ingest_pb2 as pb

DEPARTMENT_ID = 7


async def create_channel(
    target: str,
    token: str,
    url: str,
    concurrency: int,
    *,
    department_id: int = DEPARTMENT_ID,
    account_id: str = "",
    name: str = "bench",
) -> str:
    """One channel of `account_id` (the default account unless named) for the department's
    ticket_create with retries on, its connection test passed; its signing secret."""
    async with open_channel(target, token) as channel:
        created = await channel_admin_pb2_grpc.ChannelAdminStub(channel).CreateChannel(
            channel_admin_pb2.CreateChannelRequest(
                channel=channel_pb2.Channel(
                    name=name,
                    url=url,
                    department_id=department_id,
                    subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
                    retries_enabled=True,
                    max_concurrency=concurrency,
                    account_id=account_id,
                )
            ),
            timeout=30,
        )
    status = created.channel.connection_status
    if status.state != channel_pb2.CONNECTION_STATE_ESTABLISHED:
        raise SystemExit(f"the channel's connection test failed: {status.message}")
    return created.signing_secret


def batches(
    template: event_pb2.Event | Sequence[event_pb2.Event],
    count: int,
    per_message: int,
    prefix: str,
) -> Iterator[pb.PublishEventsRequest]:
    """`count` events, `per_message` a message, event n a copy of `template` (of
    `template[n % len(template)]` when there are several) with the id `{prefix}-{n}`."""
    templates = [template] if isinstance(template, event_pb2.Event) else template
    for start in range(0, count, per_message):
        request = pb.PublishEventsRequest()
        for n in range(start, min(start + per_message, count)):
            event = request.events.add()
            event.CopyFrom(templates[n % len(templates)])
            event.event_id = f"{prefix}-{n}"
        yield request


async def publish(
    target: str,
    token: str,
    template: event_pb2.Event | Sequence[event_pb2.Event],
    *,
    count: int,
    per_message: int,
    prefix: str,
) -> None:
    """Stream `count` events (as `batches` makes them) over one PublishEvents call; every one
    must be accepted."""
    accepted = 0
    async with open_channel(target, token) as channel, asyncio.timeout(60 + count / 1000):
        call = event_ingest_pb2_grpc.EventIngestStub(channel).PublishEvents(
            batches(template, count, per_message, prefix)
        )
        async for response in call:
            accepted += sum(ack.result == pb.EVENT_ACK_RESULT_ACCEPTED for ack in response.acks)
    if accepted != count:
        raise SystemExit(f"only {accepted:,} of {count:,} events were accepted")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Holds off this process's garbage collection while it measures: it timestamps acks (and,
    in some benchmarks, arrivals), and its own pauses would count as the server's latency. The
    measured phases are bounded, and so is what they allocate."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def publish_paced(
    target: str,
    token: str,
    templates: Sequence[event_pb2.Event],
    *,
    count: int,
    rate: float,
    prefix: str,
) -> tuple[dict[str, float], dict[str, float]]:
    """`count` events, one per message, at `rate` per second on one stream, event n a copy of
    `templates[n % len(templates)]` with the id `{prefix}-{n}`: the monotonic times each was
    sent and each ack arrived, by event id."""
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}
    async with open_channel(target, token) as channel:
        call = event_ingest_pb2_grpc.EventIngestStub(channel).PublishEvents()

        async def read_acks() -> None:
            while isinstance(response := await call.read(), pb.PublishEventsResponse):
                now = time.monotonic()
                for ack in response.acks:
                    acked[ack.event_id] = now

        reader = asyncio.create_task(read_acks())
        started = time.monotonic()
        for n in range(count):
            if (delay := started + n / rate - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            request = pb.PublishEventsRequest()
            event = request.events.add()
            event.CopyFrom(templates[n % len(templates)])
            event.event_id = f"{prefix}-{n}"
            sent[event.event_id] = time.monotonic()
            await call.write(request)
        await call.done_writing()
        async with asyncio.timeout(30):
            await reader
    return sent, acked
