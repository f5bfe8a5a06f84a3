#!/usr/bin/env python3
"""Crash loop: a producer streams events and a receiver counts the webhooks while the server is
killed with SIGKILL at random moments and restarted on the same database.

    .venv/bin/python scripts/crash_loop.py [--kills 20] [--rate 200] [--seed N] [--database URL]
        [--results FILE]

At the end, with a last server left running until everything acked has arrived:
- every acked event was delivered at least once;
- every repeat of an event carries the webhook-id of its first delivery, and no two events
  share one;
- the log has an entry for every attempt the receiver saw. An attempt cut short by a kill is
  never recorded, so its resend after the restart carries the same webhook-id and attempt
  number; the pairs the receiver saw and the pairs in the log are the same set.

The server runs in a subprocess on 127.0.0.1, the producer and the HTTPS receiver in this one.
The suite runs a short version (tests/process/test_crash_loop.py).
"""

import asyncio
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import uvloop

from deskhook.client import open_channel
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_admin_pb2_grpc, event_ingest_pb2_grpc
from deskhook.v1 import event_ingest_pb2 as ingest_pb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' receiver, events and server runner
from benchkit.figures import Figure, bench_parser, conclude, verdict  # noqa: E402

from tests.support.channels import add_channel  # noqa: E402
from tests.support.events import make_event  # noqa: E402
from tests.support.receiver import Answer, ReceivedRequest, Receiver  # noqa: E402
from tests.support.serve_process import ServeProcess, delivery_flags, serve_process  # noqa: E402

ADMIN_TOKEN = "crash-loop-admin"
INGEST_TOKEN = "crash-loop-ingest"
PER_MESSAGE = 10
# Each answer takes this long, so attempts are in flight whenever a kill lands.
ANSWER_DELAY = 0.02
# What the last server gets to deliver the backlog before the run counts events as lost.
SETTLE_SECONDS = 120.0
STORED = {ingest_pb.EVENT_ACK_RESULT_ACCEPTED, ingest_pb.EVENT_ACK_RESULT_DUPLICATE}


@dataclass
class Report:
    kills: int = 0
    acked: set[str] = field(default_factory=set)
    rejected: int = 0
    requests: list[ReceivedRequest] = field(default_factory=list)
    logged: set[tuple[str, int]] = field(default_factory=set)

    @property
    def delivered(self) -> set[str]:
        return {event_id_of(request) for request in self.requests}

    @property
    def lost(self) -> set[str]:
        return self.acked - self.delivered

    def webhook_ids_by_event(self) -> dict[str, set[str]]:
        ids: defaultdict[str, set[str]] = defaultdict(set)
        for request in self.requests:
            ids[event_id_of(request)].add(request.headers["webhook-id"])
        return ids

    @property
    def repeats(self) -> int:
        return len(self.requests) - len(self.delivered)

    @property
    def split_ids(self) -> int:
        """Events delivered under more than one webhook-id, or webhook-ids of several events."""
        by_event = self.webhook_ids_by_event()
        webhook_ids = [webhook_id for ids in by_event.values() for webhook_id in ids]
        return sum(len(ids) > 1 for ids in by_event.values()) + (
            len(webhook_ids) - len(set(webhook_ids))
        )

    @property
    def seen_attempts(self) -> set[tuple[str, int]]:
        return {attempt_of(request) for request in self.requests}

    @property
    def ok(self) -> bool:
        return (
            not self.lost
            and not self.split_ids
            and not self.rejected
            and self.seen_attempts == self.logged
        )

    def lines(self) -> list[str]:
        unlogged = self.seen_attempts - self.logged
        return [
            f"kills (SIGKILL)                     {self.kills:8,}",
            f"events acked                        {len(self.acked):8,}",
            f"events rejected                     {self.rejected:8,}",
            f"acked events delivered              {len(self.acked & self.delivered):8,}",
            f"acked events lost                   {len(self.lost):8,}",
            f"webhooks received                   {len(self.requests):8,}",
            f"repeats (an event received again)   {self.repeats:8,}",
            f"repeats under another webhook-id    {self.split_ids:8,}",
            f"attempts seen but not in the log    {len(unlogged):8,}",
            f"log entries never seen              {len(self.logged - self.seen_attempts):8,}",
            "verdict                             " + ("ok" if self.ok else "FAILED"),
        ]

    def figures(self) -> list[Figure]:
        """The run's size, then the counts that must be zero, each with its verdict."""
        mismatched = len(self.seen_attempts ^ self.logged)

        def none_of(name: str, count: int) -> Figure:
            return Figure(
                "crash loop", name, count, "count", target="0", verdict=verdict(not count)
            )

        return [
            Figure("crash loop", "kills (SIGKILL)", self.kills, "count"),
            Figure("crash loop", "events acked", len(self.acked), "count"),
            none_of("events rejected", self.rejected),
            none_of("acked events lost", len(self.lost)),
            none_of("repeats under another webhook-id", self.split_ids),
            none_of("attempts seen but not logged, or logged but not seen", mismatched),
        ]


def event_id_of(request: ReceivedRequest) -> str:
    event_id: str = json.loads(request.body)["event_id"]
    return event_id


def attempt_of(request: ReceivedRequest) -> tuple[str, int]:
    return request.headers["webhook-id"], int(request.headers["x-deskhook-attempt"])


class Producer:
    """Streams new events at `rate` per second to whichever server is up, sending again what a
    dead server never acked, until `stop()`."""

    def __init__(self, rate: float) -> None:
        self._interval = PER_MESSAGE / rate
        self._next = 0
        self._unacked: dict[str, None] = {}  # in send order
        self._stopping = asyncio.Event()
        self.acked: set[str] = set()
        self.rejected = 0

    def stop(self) -> None:
        self._stopping.set()

    async def _requests(self) -> AsyncIterator[ingest_pb.PublishEventsRequest]:
        resend = list(self._unacked)
        for start in range(0, len(resend), PER_MESSAGE):
            yield self._request(resend[start : start + PER_MESSAGE])
        while not self._stopping.is_set():
            ids = [f"loop-{n}" for n in range(self._next, self._next + PER_MESSAGE)]
            self._next += PER_MESSAGE
            self._unacked.update(dict.fromkeys(ids))
            yield self._request(ids)
            await asyncio.sleep(self._interval)

    @staticmethod
    def _request(ids: list[str]) -> ingest_pb.PublishEventsRequest:
        return ingest_pb.PublishEventsRequest(events=[make_event(event_id) for event_id in ids])

    async def stream(self, target: str) -> None:
        """One stream to one server, until it dies or the producer stops."""
        try:
            async with open_channel(target, INGEST_TOKEN) as channel:
                call = event_ingest_pb2_grpc.EventIngestStub(channel).PublishEvents(
                    self._requests()
                )
                async for response in call:
                    for ack in response.acks:
                        self._unacked.pop(ack.event_id, None)
                        if ack.result in STORED:
                            self.acked.add(ack.event_id)
                        else:
                            self.rejected += 1
        except grpc.aio.AioRpcError:
            pass  # the server died under it: the next stream sends the unacked events again


async def create_channel(target: str, receiver: Receiver) -> None:
    async with open_channel(target, ADMIN_TOKEN) as channel:
        await add_channel(
            channel_admin_pb2_grpc.ChannelAdminStub(channel), receiver, name="crash-loop"
        )


async def logged_attempts(target: str) -> set[tuple[str, int]]:
    attempts: set[tuple[str, int]] = set()
    async with open_channel(target, ADMIN_TOKEN) as channel:
        admin = channel_admin_pb2_grpc.ChannelAdminStub(channel)
        token = ""
        while True:
            page = await admin.ListDeliveryLog(
                admin_pb.ListDeliveryLogRequest(page_size=1000, page_token=token)
            )
            attempts.update((entry.webhook_id, entry.attempt) for entry in page.entries)
            if not (token := page.next_page_token):
                return attempts


async def settle(
    producer: Producer, receiver: Receiver, target: str, seconds: float
) -> set[tuple[str, int]]:
    """Let the last server take every unacked event, deliver every acked one and record every
    attempt; the attempts in its log."""
    deadline = time.monotonic() + seconds
    # Stopped first, the producer sends only what is still unacked, then closes the stream.
    producer.stop()
    await producer.stream(target)
    while time.monotonic() < deadline:
        seen = [request for request in receiver.requests if is_event(request)]
        if producer.acked <= {event_id_of(request) for request in seen}:
            # An attempt is recorded just after its answer: the log may trail a moment.
            logged = await logged_attempts(target)
            if {attempt_of(request) for request in seen} <= logged:
                return logged
        await asyncio.sleep(0.1)
    return await logged_attempts(target)


def is_event(request: ReceivedRequest) -> bool:
    return request.headers["x-deskhook-event-type"] != "connection_test"


async def run(
    scratch: Path,
    *,
    kills: int,
    rate: float,
    seed: int,
    uptime: tuple[float, float] = (0.3, 1.5),
    database: str | None = None,
) -> Report:
    """Kill the server `kills` times after a random `uptime` (seconds) each, then settle. The
    database is a SQLite file in `scratch` unless `database` names another (an empty one)."""
    chance = random.Random(seed)
    database = database or str(scratch / "deskhook.db")
    report = Report()
    async with Receiver() as receiver:
        receiver.respond(Answer(delay=ANSWER_DELAY))
        args = delivery_flags(
            ADMIN_TOKEN, INGEST_TOKEN, receiver.write_ca(scratch / "receiver-ca.pem")
        )
        producer = Producer(rate)
        for round_ in range(kills + 1):
            async with serve_process(database, args) as served:
                target = f"127.0.0.1:{served.port}"
                if round_ == 0:
                    await create_channel(target, receiver)
                if round_ < kills:
                    await stream_then_kill(producer, served, chance.uniform(*uptime))
                    report.kills += 1
                    continue
                report.logged = await settle(producer, receiver, target, SETTLE_SECONDS)
        report.acked = producer.acked
        report.rejected = producer.rejected
        report.requests = [request for request in receiver.requests if is_event(request)]
    return report


async def stream_then_kill(producer: Producer, served: ServeProcess, uptime: float) -> None:
    stream = asyncio.create_task(producer.stream(f"127.0.0.1:{served.port}"))
    await asyncio.sleep(uptime)
    served.process.kill()
    await asyncio.to_thread(served.process.wait)
    await stream


async def main(
    kills: int, rate: float, seed: int, database: str | None, results: Path | None
) -> int:
    print(f"crash loop: {kills} kills, {rate:g} events/s, seed {seed}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        report = await run(Path(scratch), kills=kills, rate=rate, seed=seed, database=database)
    return conclude(report.lines(), report.figures(), results, report.ok)


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200, help="events per second")
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 32))
    parser.add_argument(
        "--database", help="an empty PostgreSQL database's URL (default: a temporary SQLite file)"
    )
    options = parser.parse_args()
    sys.exit(
        uvloop.run(
            main(options.kills, options.rate, options.seed, options.database, options.results)
        )
    )
