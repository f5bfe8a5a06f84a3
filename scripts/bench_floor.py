#!/usr/bin/env python3
"""What one webhook costs at the least: each step the contract requires of deskhook for one
event delivered once, measured alone in this process as CPU time per webhook, and their sum
against the server's CPU per webhook target (`scripts/bench_delivery.py`: 0.45 ms).

    .venv/bin/python scripts/bench_floor.py [--webhooks 20000] [--results FILE]

The steps, each at its best (large batches, nothing else running, no event loop to share):

1. check the published event (`published_event`: the checks every event gets);
2. store it with its delivery in SQLite, 2,000 events a transaction, fsync per commit, as
   ingest's group commit does at its largest;
3. claim the delivery and record its attempt in SQLite, 20 at a time (the scheduler's batches
   at concurrency 10);
4. render its body (the 1 KiB sample event of scripts/bench_delivery.py) and sign it;
5. decide what follows and write the attempt's log line (to /dev/null);
6. send it over HTTPS keep-alive with a bare aiohttp client, 10 at once, to the benchmark's
   receiver in its own process (this process's CPU only: the receiver's is not deskhook's).

The other design measured: the server hands each request to a sending process over a socket
(a length-prefixed pickle each way) and that process posts it with the same client. Step 6
then costs the server only the hand-over; the sending process's CPU is shown beside it.

The sum leaves out what the server spends between the steps (the gRPC transport, the event
loop's tasks, the scheduler): it is a floor under the server's figure, not an estimate of it.
CPU time is the whole process's (`time.process_time`), so the SQLite threads count.
"""

import asyncio
import base64
import os
import pickle
import socket
import ssl
import struct
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import structlog
import uvloop
from opentelemetry.trace import SpanKind

from deskhook.api.event_ingest import PUBLISH_EVENT
from deskhook.api.event_validation import published_event
from deskhook.core.ingest import COMMIT_SPAN
from deskhook.delivery.attempt import attempt_span, build_attempt
from deskhook.delivery.payload import event_body
from deskhook.domain.breaker import DEFAULT_POLICY
from deskhook.domain.channel_spec import Channel, ChannelSpec
from deskhook.domain.delivery import Attempt, DueDelivery, webhook_id
from deskhook.domain.events import EventType, MatchedEvent
from deskhook.domain.responses import HttpResponse
from deskhook.domain.retry import decide
from deskhook.domain.signing import secret_key, webhook_headers
from deskhook.logs import configure_logging
from deskhook.store.base import ClaimRules
from deskhook.store.sqlite.store import SqliteStore
from deskhook.tracing import span
from deskhook.v1 import event_pb2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for the sample events the tests publish
from bench_delivery import (  # noqa: E402
    TARGET_CPU_MS,
    raw_bodies,
    raw_post,
    sample_event,
    sign,
)
from benchkit.figures import Figure, bench_parser, verdict, write_figures  # noqa: E402
from benchkit.proc import cpu_seconds  # noqa: E402
from benchkit.receiver import receiving  # noqa: E402

CHANNEL_ID = "ch_" + "a" * 24
# Of the server's CPU per webhook, what tracing may cost while off (issue: observability).
TRACING_OFF_SHARE = 0.03
INGEST_BATCH = 2000
CLAIM_BATCH = 20
CONCURRENCY = 10
LEASE = timedelta(minutes=1)
FRAME = struct.Struct("!I")


# --- the other design: a sending process ---------------------------------------------------


async def read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = FRAME.unpack(await reader.readexactly(FRAME.size))
    return pickle.loads(await reader.readexactly(size))  # noqa: S301 - our own child's frames


def frame(message: object) -> bytes:
    data = pickle.dumps(message)
    return FRAME.pack(len(data)) + data


async def sender(fd: int, ca: str) -> None:
    """The sending process: posts each request it is handed, answers with its status."""
    reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=fd))
    tls = ssl.create_default_context(cafile=ca)
    posting: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session:

        async def post(number: int, url: str, headers: dict[str, str], body: bytes) -> None:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                writer.write(frame((number, response.status)))

        while True:
            try:
                number, url, headers, body = await read_frame(reader)
            except asyncio.IncompleteReadError:
                return
            task = asyncio.create_task(post(number, url, headers, body))
            posting.add(task)
            task.add_done_callback(posting.discard)


async def hand_over(
    url: str, ca: Path, key: bytes, bodies: list[tuple[str, bytes]]
) -> tuple[float, float]:
    """CPU µs per webhook of this process and of a sending process it hands `bodies` to, 10
    at once, signed with `key`."""
    ours, theirs = socket.socketpair()
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--sender", str(theirs.fileno()), str(ca),
        pass_fds=[theirs.fileno()],
    )  # fmt: skip
    theirs.close()
    reader, writer = await asyncio.open_connection(sock=ours)
    answers: dict[int, asyncio.Future[int]] = {}

    async def read_answers() -> None:
        while True:
            number, status = await read_frame(reader)
            answers.pop(number).set_result(status)

    reading = asyncio.create_task(read_answers())
    numbered = iter(enumerate(bodies))
    loop = asyncio.get_running_loop()

    async def send() -> None:
        for number, (message_id, body) in numbered:
            answers[number] = answer = loop.create_future()
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(key, message_id, timestamp, body),
            }
            writer.write(frame((number, url, headers, body)))
            if await answer != 200:
                raise SystemExit(f"the receiver answered {answer.result()}")

    try:
        started, child_started = time.process_time(), cpu_seconds(child.pid)
        async with asyncio.timeout(60 + len(bodies) / 100):
            await asyncio.gather(*(send() for _ in range(CONCURRENCY)))
        here = (time.process_time() - started) / len(bodies) * 1e6
        there = (cpu_seconds(child.pid) - child_started) / len(bodies) * 1e6
    finally:
        reading.cancel()
        writer.close()
        async with asyncio.timeout(10):
            await child.wait()
    return here, there


# --- the steps -------------------------------------------------------------------------------


async def cpu_per_item(count: int, work: Callable[[], Awaitable[object]]) -> float:
    """µs of this process's CPU per item, for `work` handling `count` items."""
    started = time.process_time()
    await work()
    return (time.process_time() - started) / count * 1e6


class Steps:
    """Each step over `count` webhooks of the sample event, in the order a webhook takes
    them, each appending its CPU µs per webhook to `steps`."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.template = sample_event(1024)
        self.now = datetime.now(UTC)
        self.answered = HttpResponse(200, "", None, "", 0.002, None)
        self.channel = Channel(
            id=CHANNEL_ID,
            spec=ChannelSpec("floor", "https://localhost/hook", 7, (EventType.TICKET_CREATE,)),
            create_time=self.now,
            update_time=self.now,
        )
        self.steps: list[tuple[str, float]] = []
        self.claimed: list[DueDelivery] = []

    async def measure(self, name: str, work: Callable[[], Awaitable[object]]) -> None:
        self.steps.append((name, await cpu_per_item(self.count, work)))

    def attempt(self, delivery: DueDelivery) -> Attempt:
        """Its attempt, answered 200."""
        decision = decide(
            self.answered,
            attempt=1,
            retries_enabled=True,
            schedule=self.channel.spec.retry_schedule,
            now=self.now,
            jitter=0.5,
        )
        return build_attempt(delivery, self.answered, decision, attempted_at=self.now)

    async def check_store_claim_record(self, scratch: Path) -> None:
        published = []
        for n in range(self.count):
            event = event_pb2.Event()
            event.CopyFrom(self.template)
            event.event_id = f"floor-{n}"
            published.append(event)
        now_seconds = int(self.now.timestamp())

        async def check() -> None:
            for event in published:
                published_event(event, now_seconds)

        await self.measure("check the published event", check)
        matched = [
            MatchedEvent(published_event(event, now_seconds), (CHANNEL_ID,)) for event in published
        ]
        store = await SqliteStore.open(str(scratch / "floor.db"))
        try:
            await store.insert_channel(self.channel, "whsec_" + "A" * 43 + "=", None)

            async def ingest() -> None:
                for start in range(0, self.count, INGEST_BATCH):
                    await store.ingest(matched[start : start + INGEST_BATCH], self.now)

            await self.measure("store it with its delivery", ingest)
            rules = ClaimRules({CHANNEL_ID: CLAIM_BATCH})
            until = self.now + LEASE

            async def claim_and_record() -> None:
                while due := (
                    await store.claim_due(self.now, until, rules, CLAIM_BATCH)
                ).deliveries:
                    self.claimed += due
                    attempts = [(self.attempt(delivery), self.now) for delivery in due]
                    await store.finish_attempts(attempts, DEFAULT_POLICY)

            await self.measure("claim it, record its attempt", claim_and_record)
        finally:
            await store.close()

    async def render_and_sign(self) -> None:
        keys = [secret_key("whsec_" + base64.b64encode(os.urandom(32)).decode())]

        async def render_and_sign() -> None:
            for delivery in self.claimed:
                webhook_headers(
                    keys=keys,
                    webhook_id=webhook_id(CHANNEL_ID, delivery.event_id),
                    timestamp=int(self.now.timestamp()),
                    body=event_body(delivery.payload, delivery.event_type, CHANNEL_ID),
                    event_type=delivery.event_type.value,
                    attempt=1,
                )

        await self.measure("render its body and sign it", render_and_sign)

    async def decide_and_log(self, sink: TextIO) -> None:
        # As the server logs, to `sink`; whoever logged before logs as before after.
        before = structlog.get_config()
        configure_logging("info", "json", sink)
        try:
            await self._decide_and_log()
        finally:
            structlog.configure(**before)

    async def _decide_and_log(self) -> None:
        log = structlog.get_logger("deskhook.delivery")

        async def decide_and_log() -> None:
            for delivery in self.claimed:
                attempt = self.attempt(delivery)
                log.info(
                    "attempt",
                    channel_id=CHANNEL_ID,
                    event_id=delivery.event_id,
                    ticket_id=delivery.ticket_id,
                    attempt=attempt.attempt,
                    http_status=self.answered.http_status,
                    outcome=attempt.outcome.value,
                    error=self.answered.error,
                    duration_ms=round(self.answered.duration * 1000, 1),
                )

        await self.measure("decide, log the attempt", decide_and_log)

    async def tracing_off(self) -> float:
        """µs per webhook that the tracing hooks cost while tracing is off, which is none of
        the steps: the ingest call's span, the commit's (shared by a batch in the server, whole
        here) and the attempt's, each a None check and an empty context manager."""

        async def hooks() -> None:
            for delivery in self.claimed:
                with span(None, PUBLISH_EVENT, SpanKind.SERVER):
                    pass
                with span(None, COMMIT_SPAN, SpanKind.INTERNAL):
                    pass
                with attempt_span(None, self.channel, delivery):
                    pass

        return await cpu_per_item(self.count, hooks)

    async def send(self, scratch: Path) -> tuple[float, float]:
        """Measures the bare client as step 6; what handing over to a sending process costs
        this process and the sender."""
        async with receiving(scratch) as (receiver, ca):
            secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
            await receiver.ask("secret", secret=secret)
            url = receiver.url
            await raw_post(url, ca, secret, raw_bodies(self.template, 1000, "w"), CONCURRENCY)
            bodies = raw_bodies(self.template, self.count, "f")

            async def send() -> None:
                if failures := await raw_post(url, ca, secret, bodies, CONCURRENCY):
                    raise SystemExit(f"{failures} requests were not answered 200")

            await self.measure("send it over HTTPS (aiohttp)", send)
            handing = raw_bodies(self.template, self.count, "h")
            return await hand_over(url, ca, secret_key(secret), handing)


async def run(count: int, results: Path | None, log_sink: TextIO) -> int:
    steps = Steps(count)
    with tempfile.TemporaryDirectory() as scratch:
        await steps.check_store_claim_record(Path(scratch))
        await steps.render_and_sign()
        await steps.decide_and_log(log_sink)
        tracing_off = await steps.tracing_off()
        handed, sending = await steps.send(Path(scratch))
    return report(
        steps.steps,
        handed=handed,
        sending=sending,
        tracing_off=tracing_off,
        count=count,
        results=results,
    )


def report(
    steps: list[tuple[str, float]],
    *,
    handed: float,
    sending: float,
    tracing_off: float,
    count: int,
    results: Path | None,
) -> int:
    floor = sum(cpu for _, cpu in steps)
    # With a sending process, the server's own share of step 6 is the hand-over.
    handed_floor = floor - steps[-1][1] + handed
    target_us = TARGET_CPU_MS * 1000
    print(f"What one webhook costs at the least, {count:,} webhooks, CPU µs per webhook:")
    for name, cpu in steps:
        print(f"  {name:40} {cpu:7.1f}")
    print(
        f"  {'sum: the floor':40} {floor:7.1f}   {floor / target_us:.0%} of the server's"
        f" {target_us:.0f} µs target before anything between the steps\n"
        f"  with a sending process: step 6 costs the server {handed:.1f} (the sender"
        f" {sending:.1f});\n  the server's floor {handed_floor:.1f},"
        f" both processes' {handed_floor + sending:.1f}\n"
        f"  tracing off, its hooks: {tracing_off:.2f} ({tracing_off / floor:.2%} of the floor,"
        f" more of it than of the server's whole CPU per webhook; target ≤ 3%)",
        flush=True,
    )
    figures = [Figure("floor", name, cpu, "µs per webhook") for name, cpu in steps]
    figures += [
        Figure(
            "floor",
            "the steps together: the least CPU per webhook",
            floor,
            "µs per webhook",
            target=f"≤ {target_us:.0f} µs with the server's own costs on top",
            verdict=verdict(floor <= target_us),
        ),
        Figure(
            "floor",
            "tracing off: what its hooks cost",
            tracing_off,
            "µs per webhook",
            baseline_name="the floor",
            baseline_value=floor,
            target="≤ 3% of the server's CPU per webhook, the floor below it",
            verdict=verdict(tracing_off <= TRACING_OFF_SHARE * floor),
        ),
        Figure("floor", "with a sending process: the server's hand-over", handed, "µs per webhook"),
        Figure("floor", "with a sending process: the sender", sending, "µs per webhook"),
        Figure(
            "floor",
            "with a sending process: the server's floor",
            handed_floor,
            "µs per webhook",
            baseline_name="in one process",
            baseline_value=floor,
        ),
    ]
    if results is not None:
        write_figures(results, figures)
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--sender"]:
        uvloop.run(sender(int(sys.argv[2]), sys.argv[3]))
        return 0
    parser = bench_parser(__doc__)
    parser.add_argument("--webhooks", type=int, default=20_000)
    options = parser.parse_args()
    # The log line's cost is making it; where it goes is the operator's.
    with open(os.devnull, "w") as log_sink:
        return uvloop.run(run(options.webhooks, options.results, log_sink))


if __name__ == "__main__":
    sys.exit(main())
