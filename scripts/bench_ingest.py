#!/usr/bin/env python3
"""Ingest benchmark: events/s acked durably by deskhook over one PublishEvents stream, next to a
bare grpc.aio bidirectional stream with the same messages and batched acks, measured in the
same run; and deskhook's peak RSS as the event count grows.

It also measures deskhook's SQLite store alone, in this process: the same events, already
checked and matched, written in batches as large as the server's by the store's own `ingest`,
no gRPC. That is a ceiling for the server, whatever happens before the store.

    .venv/bin/python scripts/bench_ingest.py [--events 200000] [--per-message 50]
        [--results FILE]

Both servers run in their own process on 127.0.0.1, the client in this one.
"""

import argparse
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import uvloop

from deskhook.client import open_channel
from deskhook.core.ingest import MAX_BATCH_EVENTS
from deskhook.domain.channel_spec import Channel, ChannelSpec
from deskhook.domain.events import EventType, MatchedEvent, PublishedEvent
from deskhook.store.sqlite.store import SqliteStore
from deskhook.v1 import (
    channel_admin_pb2,
    channel_admin_pb2_grpc,
    channel_pb2,
    event_ingest_pb2_grpc,
    event_pb2,
)
from deskhook.v1 import event_ingest_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for the sample events the tests publish
from benchkit.figures import Figure, bench_parser, verdict, write_figures  # noqa: E402
from benchkit.load import batches  # noqa: E402
from benchkit.proc import peak_rss_mib  # noqa: E402
from benchkit.processes import serve_command, start_process, stop_server  # noqa: E402

from tests.support.events import make_event  # noqa: E402

TOKEN = "bench-token"
TARGET_EVENTS_PER_SECOND = 10_000
# Of deskhook's own store alone: what the server adds to the store is what it can cut.
TARGET_RATIO = 0.6


# --- the baseline: a bare stream that acks each message as it arrives, nothing stored ----------


async def bare_server() -> None:
    async def publish(
        requests: AsyncIterator[pb.PublishEventsRequest], context: Any
    ) -> AsyncIterator[pb.PublishEventsResponse]:
        async for request in requests:
            yield pb.PublishEventsResponse(
                acks=[
                    pb.EventAck(
                        event_id=event.event_id,
                        result=pb.EVENT_ACK_RESULT_ACCEPTED,
                        matched_channels=1,
                    )
                    for event in request.events
                ]
            )

    server = grpc.aio.server()
    handler = grpc.stream_stream_rpc_method_handler(
        publish, pb.PublishEventsRequest.FromString, pb.PublishEventsResponse.SerializeToString
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "deskhook.v1.EventIngest", {"PublishEvents": handler}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(json.dumps({"event": "listening", "port": port}), file=sys.stderr, flush=True)
    await server.wait_for_termination()


# --- the client ------------------------------------------------------------------------------


def messages(count: int, per_message: int, prefix: str) -> list[pb.PublishEventsRequest]:
    return list(batches(make_event("template"), count, per_message, prefix))


async def stream(target: str, requests: list[pb.PublishEventsRequest]) -> tuple[int, float]:
    """Acked events and seconds taken, streaming every request over one call."""
    async with open_channel(target, TOKEN) as channel:
        started = time.perf_counter()
        acked = 0
        call = event_ingest_pb2_grpc.EventIngestStub(channel).PublishEvents(iter(requests))
        async for response in call:
            acked += sum(ack.result != pb.EVENT_ACK_RESULT_REJECTED for ack in response.acks)
        return acked, time.perf_counter() - started


async def prepare_channel(target: str) -> None:
    async with open_channel(target, TOKEN) as channel:
        await channel_admin_pb2_grpc.ChannelAdminStub(channel).CreateChannel(
            channel_admin_pb2.CreateChannelRequest(
                channel=channel_pb2.Channel(
                    name="bench",
                    url="https://localhost:9/hook",
                    department_id=7,
                    subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
                )
            )
        )


async def store_alone(database: Path, events: int) -> float:
    """Events/s the store commits on its own, one matched channel each, fsync per batch."""
    store = await SqliteStore.open(str(database))
    try:
        now = datetime.now(UTC)
        channel = Channel(
            id="ch_bench",
            spec=ChannelSpec("bench", "https://localhost/hook", 7, (EventType.TICKET_CREATE,)),
            create_time=now,
            update_time=now,
        )
        await store.insert_channel(channel, "whsec_bench", None)
        payload = make_event("template").SerializeToString()
        matched = [
            MatchedEvent(
                PublishedEvent(
                    f"s-{n}", EventType.TICKET_CREATE, (7,), 1001, "HD-1001", 0, payload, ""
                ),
                (channel.id,),
            )
            for n in range(events)
        ]
        started = time.perf_counter()
        for start in range(0, events, MAX_BATCH_EVENTS):
            await store.ingest(matched[start : start + MAX_BATCH_EVENTS], now)
        return events / (time.perf_counter() - started)
    finally:
        await store.close()


async def run(events: int, per_message: int, results: Path | None) -> None:
    warm = messages(min(5000, events), per_message, "warm")
    print(f"{events} events over one stream, {per_message} events per message", flush=True)

    with tempfile.TemporaryDirectory() as scratch:
        bare, bare_port = start_process(
            [sys.executable, __file__, "--bare-server"], Path(scratch) / "bare.log"
        )
        try:
            await stream(f"127.0.0.1:{bare_port}", warm)
            acked, seconds = await stream(
                f"127.0.0.1:{bare_port}", messages(events, per_message, "b")
            )
        finally:
            bare.kill()
        bare_rate = acked / seconds
        print(f"  bare grpc.aio stream       {bare_rate:10,.0f} events/s", flush=True)
        ceiling = await store_alone(Path(scratch) / "store.db", min(events, 100_000))
        print(
            f"  deskhook's store alone     {ceiling:10,.0f} events/s"
            f"   ({ceiling / bare_rate:.0%} of the bare stream: the server's ceiling)",
            flush=True,
        )

        log = Path(scratch) / "deskhook.log"
        deskhook, port = start_process(
            serve_command(
                Path(scratch) / "bench.db",
                "--admin-token", TOKEN, "--ingest-token", TOKEN,
                "--allow-network", "127.0.0.0/8",
            ),
            log,
        )  # fmt: skip
        target = f"127.0.0.1:{port}"
        try:
            await prepare_channel(target)
            await stream(target, warm)
            rss: list[tuple[int, float]] = []
            sent = len(warm) * per_message
            acked = 0
            seconds = 0.0
            # The same number of events in four rounds: peak RSS must not grow with the count.
            for round_ in range(4):
                round_acked, round_seconds = await stream(
                    target, messages(events // 4, per_message, f"d{round_}")
                )
                acked, seconds, sent = (
                    acked + round_acked,
                    seconds + round_seconds,
                    sent + events // 4,
                )
                rss.append((sent, peak_rss_mib(deskhook.pid)))
        finally:
            stop_server(deskhook, log)
    rate = acked / seconds
    absolute = verdict(rate >= TARGET_EVENTS_PER_SECOND)
    print(f"  deskhook, durable, 1 match {rate:10,.0f} events/s", flush=True)
    print(f"  ratio deskhook / bare      {rate / bare_rate:10.0%}")
    print(f"  ratio deskhook / store     {rate / ceiling:10.0%}   (target >= {TARGET_RATIO:.0%})")
    print(f"  deskhook absolute          {absolute} the {TARGET_EVENTS_PER_SECOND:,}/s target")
    peaks = ", ".join(f"{mib:.0f} MiB after {count:,}" for count, mib in rss)
    print(f"  server peak RSS            {peaks}")
    if results is not None:
        write_figures(
            results,
            figures(events, per_message, rate=rate, bare_rate=bare_rate, ceiling=ceiling, rss=rss),
        )


def figures(
    events: int,
    per_message: int,
    *,
    rate: float,
    bare_rate: float,
    ceiling: float,
    rss: list[tuple[int, float]],
) -> list[Figure]:
    bare = "bare grpc.aio stream"
    (first_count, first_mib), (last_count, last_mib) = rss[0], rss[-1]
    return [
        Figure(
            "ingest",
            f"deskhook, durable, 1 channel matched ({events:,} events, {per_message} a message)",
            rate,
            "events/s",
            bare,
            bare_rate,
            f"≥ {TARGET_EVENTS_PER_SECOND:,} events/s",
            verdict(rate >= TARGET_EVENTS_PER_SECOND),
        ),
        Figure(
            "ingest",
            "deskhook, durable, against its own store alone",
            rate,
            "events/s",
            "the store alone",
            ceiling,
            f"≥ {TARGET_RATIO:.0%} of the baseline",
            verdict(rate / ceiling >= TARGET_RATIO),
        ),
        Figure(
            "ingest",
            "deskhook's SQLite store alone (the ceiling)",
            ceiling,
            "events/s",
            bare,
            bare_rate,
        ),
        Figure(
            "ingest",
            f"server peak RSS after {last_count:,} events",
            last_mib,
            "MiB",
            f"after {first_count:,} events",
            first_mib,
        ),
    ]


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--per-message", type=int, default=50)
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.bare_server:
        uvloop.run(bare_server())
    else:
        uvloop.run(run(options.events, options.per_message, options.results))


if __name__ == "__main__":
    main()
