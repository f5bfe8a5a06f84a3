#!/usr/bin/env python3
"""Delivery benchmark, in one run:

1. the raw limit: a bare aiohttp client POSTs the same signed webhook bodies deskhook sends over
   HTTPS keep-alive to the same receiver, with the same concurrency;
2. deskhook end to end: events streamed in over gRPC, delivered over HTTPS, received and
   verified, every attempt logged; its rate against the raw one (target: at least 40%) and the
   server's CPU per webhook, ingest included (target: at most 0.45 ms);
3. latency from the producer's ack to the webhook's arrival at a steady 500 events/s
   (target: p99 under 25 ms);
4. a backlog of 100,000 due deliveries drained by a freshly started server (targets: at least
   40% of the raw rate, peak RSS under 200 MiB), for at most --drain-limit seconds.
5. end to end again on a fresh server with tracing on (OTEL_EXPORTER_OTLP_ENDPOINT naming a
   local OTLP/gRPC sink that takes every span and drops it, benchkit.otlp_sink): the rate and
   the server's CPU per webhook against the run without tracing.

    .venv/bin/python scripts/bench_delivery.py [--events 10000] [--concurrency 10]
        [--rate 500] [--seconds 10] [--backlog 100000] [--drain-limit 240]
        [--body-bytes 1024] [--quick] [--profile DIR] [--results FILE]

The receiver (benchkit.receiver: aiohttp over TLS with a trustme certificate for localhost,
verifying every signature with `standardwebhooks`), deskhook and the client each run in their
own process, all on 127.0.0.1. Arrival and ack times are CLOCK_MONOTONIC, which is system-wide
on Linux, so the two processes' readings compare directly. The body is the sample event of the
tests with a custom field padding it to --body-bytes (0: unpadded); the raw client sends
deskhook's own rendering of it.

The backlog is what an outage leaves: deskhook ingests the events while the receiver holds the
first requests unanswered (so no delivery completes and the rest stay queued), and is killed
once every event is acked (SIGKILL: a graceful stop would let the held attempts time out after
15 s and log them as failed first attempts). Acked events and their deliveries are durable, so
a new server on the same database finds every delivery due at once, each a first attempt; its
peak RSS is that of the drain alone.

`--profile DIR` records the server with py-spy (raw collapsed stacks) during the deskhook
phases; sampling slows it a little, so take figures from a run without it.
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop

from deskhook.delivery.payload import event_body
from deskhook.domain.events import EventType
from deskhook.v1 import event_pb2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for the sample events the tests publish and the server's flags
from benchkit.figures import Figure, bench_parser, percentile, spread, verdict, write_figures  # noqa: E402
from benchkit.load import create_channel, gc_paused, publish, publish_paced  # noqa: E402
from benchkit.otlp_sink import otlp_sink  # noqa: E402
from benchkit.proc import CpuMeter, peak_rss_mib  # noqa: E402
from benchkit.processes import (  # noqa: E402
    Profiler,
    serve_command,
    spawn,
    stop_server,
    wait_listening,
)
from benchkit.receiver import ReceiverProcess, receiving  # noqa: E402

from tests.support.events import make_event  # noqa: E402
from tests.support.serve_process import delivery_flags  # noqa: E402

TOKEN = "bench-token"
TARGET_RATIO = 0.4
TARGET_CPU_MS = 0.45
TARGET_P99_MS = 25.0
TARGET_RSS_MIB = 200.0
WARM_EVENTS = 1000
# As long as the ids deskhook gives channels, so the raw bodies have the same length.
RAW_CHANNEL_ID = "ch_" + "a" * 24


# --- deskhook, in its own process -------------------------------------------------------------


def start_deskhook(
    database: Path, ca: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return spawn(serve_command(database, *delivery_flags(TOKEN, TOKEN, ca)), log, env)


async def listening(server: subprocess.Popen[bytes], log: Path) -> str:
    return f"127.0.0.1:{await asyncio.to_thread(wait_listening, server, log)}"


# --- its webhook log -------------------------------------------------------------------------


def logged_attempts(database: Path) -> list[tuple[str, str, int]]:
    """The webhook log's attempts by outcome and error, read from the server's database."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return db.execute(
            "SELECT outcome, error, COUNT(*) FROM attempts GROUP BY outcome, error"
        ).fetchall()


def check_log(database: Path, expected: int) -> None:
    """Every delivery must be logged, once, as delivered."""
    delivered, others = 0, []
    for outcome, error, count in logged_attempts(database):
        if outcome == "delivered":
            delivered += count
        else:
            others.append(f"\n      {count:,} {outcome}: {error}")
    if delivered != expected or others:
        listed = "".join(others)
        print(f"    WARNING webhook log: {delivered:,} delivered, {expected:,} expected{listed}")
    else:
        print(f"    webhook log: {delivered:,} attempts, every one delivered", flush=True)


# --- the events and bodies -------------------------------------------------------------------


def sample_event(body_bytes: int) -> event_pb2.Event:
    """The tests' sample event, with a custom field padding its webhook body to about
    `body_bytes` (unpadded when it is already as long)."""
    event = make_event("raw-100000")
    unpadded = len(body_of(event, "raw-100000"))
    # Adding the field costs `, "notes": ""` besides the padding itself.
    if (padding := body_bytes - unpadded - len(', "notes": ""')) > 0:
        event.ticket.custom_fields["notes"] = "x" * padding
    return event


def body_of(event: event_pb2.Event, event_id: str) -> bytes:
    """What deskhook sends for `event` under `event_id`, as if from a channel of its own."""
    event = event_pb2.Event.FromString(event.SerializeToString())
    event.event_id = event_id
    return event_body(event.SerializeToString(), EventType.TICKET_CREATE, RAW_CHANNEL_ID)


def raw_bodies(template: event_pb2.Event, count: int, prefix: str) -> list[tuple[str, bytes]]:
    """(webhook-id, body) pairs, one event id each."""
    body = body_of(template, "@")
    return [
        (f"msg_{prefix}{n}", body.replace(b'"@"', f'"{prefix}-{n}"'.encode())) for n in range(count)
    ]


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode()


# --- the raw client --------------------------------------------------------------------------


async def raw_post(
    url: str, ca: Path, secret: str, bodies: list[tuple[str, bytes]], concurrency: int
) -> int:
    """POST every body, signed as it goes, with `concurrency` requests in flight over
    keep-alive connections; how many were not answered 200."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    failures = 0
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=ssl.create_default_context(cafile=ca))
    async with aiohttp.ClientSession(connector=connector) as session:
        pending = iter(bodies)

        async def worker() -> None:
            nonlocal failures
            for message_id, body in pending:
                timestamp = int(time.time())
                headers = {
                    "content-type": "application/json",
                    "user-agent": "bench-raw",
                    "webhook-id": message_id,
                    "webhook-timestamp": str(timestamp),
                    "webhook-signature": sign(key, message_id, timestamp, body),
                    "x-deskhook-event-type": "ticket_create",
                    "x-deskhook-attempt": "1",
                }
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    failures += response.status != 200

        async with asyncio.timeout(60 + len(bodies) / 100):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    events: int
    concurrency: int
    rate: float
    seconds: float
    backlog: int
    drain_limit: float
    per_message: int
    profile: Path | None


@dataclass
class Bench:
    options: Options
    scratch: Path
    receiver: ReceiverProcess
    ca: Path
    template: event_pb2.Event
    # What --results writes: each phase adds its figures.
    figures: list[Figure] = field(default_factory=list)

    async def connect(self, server: subprocess.Popen[bytes], log: Path) -> str:
        """The started server's address, once it listens, with a channel to the receiver, whose
        signing secret the receiver is given."""
        target = await listening(server, log)
        secret = await create_channel(target, TOKEN, self.receiver.url, self.options.concurrency)
        await self.receiver.ask("secret", secret=secret)
        return target

    async def publish(self, target: str, count: int, prefix: str) -> None:
        await publish(
            target,
            TOKEN,
            self.template,
            count=count,
            per_message=self.options.per_message,
            prefix=prefix,
        )

    async def raw(self) -> float:
        """Webhooks per second for the bare aiohttp client."""
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        await self.receiver.ask("secret", secret=secret)
        url, concurrency = self.receiver.url, self.options.concurrency
        warm = raw_bodies(self.template, WARM_EVENTS, "rw")
        await raw_post(url, self.ca, secret, warm, concurrency)
        bodies = raw_bodies(self.template, self.options.events, "raw")
        await self.receiver.ask("reset")
        cpu = CpuMeter(client=os.getpid(), receiver=self.receiver.process.pid)
        started = time.monotonic()
        failures = await raw_post(url, self.ca, secret, bodies, concurrency)
        stats = await self.receiver.wait_for(len(bodies), 30)
        seconds = float(stats["last"]) - started
        rate = len(bodies) / seconds
        print(
            f"  raw aiohttp client    {rate:8,.0f} webhooks/s   {cpu.report(seconds)}"
            f"   ({failures} not 200, {stats['rejected']} bad signatures)",
            flush=True,
        )
        return rate

    async def deskhook(self, raw_rate: float) -> None:
        """End-to-end rate, then the latency at a steady rate, on one server."""
        database, log = self.scratch / "delivery.db", self.scratch / "deskhook.log"
        server = start_deskhook(database, self.ca, log)
        try:
            target = await self.connect(server, log)
            await self.receiver.ask("reset")
            await self.publish(target, WARM_EVENTS, "warm")
            await self.receiver.wait_for(WARM_EVENTS, 60 + WARM_EVENTS / 20)
            rate, cpu_ms = await self.throughput(server.pid, target, raw_rate)
            await self.latency(target)
        finally:
            await asyncio.to_thread(stop_server, server, log)
        latency_events = int(self.options.rate * self.options.seconds)
        check_log(database, WARM_EVENTS + self.options.events + latency_events)
        await self.traced(rate, cpu_ms)

    async def measured(self, pid: int, target: str, prefix: str, label: str) -> tuple[float, float]:
        """Webhooks/s end to end and the server's CPU ms per webhook, for --events events."""
        count = self.options.events
        bound = 60 + count / 20
        await self.receiver.ask("reset")
        cpu = CpuMeter(server=pid, receiver=self.receiver.process.pid, client=os.getpid())
        profiler = Profiler(self.options.profile, pid, prefix, bound)
        started = time.monotonic()
        try:
            await self.publish(target, count, prefix)
            stats = await self.receiver.wait_for(count, bound)
        finally:
            profiler.stop()
        seconds = float(stats["last"]) - started
        rate = count / seconds
        print(
            f"  {label:21} {rate:8,.0f} webhooks/s   {cpu.report(seconds)}"
            f"   ({stats['duplicates']} duplicates, {stats['rejected']} bad signatures)",
            flush=True,
        )
        return rate, cpu.used("server") / count * 1000

    async def throughput(self, pid: int, target: str, raw_rate: float) -> tuple[float, float]:
        count = self.options.events
        rate, cpu_ms = await self.measured(pid, target, "tp", "deskhook end to end")
        ratio = rate / raw_rate
        print(
            f"  deskhook / raw        {ratio:8.0%}"
            f"                {verdict(ratio >= TARGET_RATIO)} the {TARGET_RATIO:.0%} target\n"
            f"  server CPU per webhook {cpu_ms:7.2f} ms"
            f"               {verdict(cpu_ms <= TARGET_CPU_MS)} the {TARGET_CPU_MS:g} ms target",
            flush=True,
        )
        self.figures += [
            Figure(
                "delivery",
                f"deskhook end to end, {count:,} webhooks, concurrency {self.options.concurrency}",
                rate,
                "webhooks/s",
                "raw aiohttp client",
                raw_rate,
                f"≥ {TARGET_RATIO:.0%} of the baseline",
                verdict(ratio >= TARGET_RATIO),
            ),
            Figure(
                "delivery",
                "server CPU per webhook, end to end (ingest included)",
                cpu_ms,
                "ms",
                target=f"≤ {TARGET_CPU_MS:g} ms",
                verdict=verdict(cpu_ms <= TARGET_CPU_MS),
            ),
        ]
        return rate, cpu_ms

    async def traced(self, rate_off: float, cpu_off: float) -> None:
        """End to end again on a fresh server with tracing on, its spans exported over OTLP to
        a local sink that drops them: what tracing costs."""
        database, log = self.scratch / "traced.db", self.scratch / "traced.log"
        async with otlp_sink() as (endpoint, received):
            tracing = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
            }
            server = start_deskhook(database, self.ca, log, tracing)
            try:
                target = await self.connect(server, log)
                await self.receiver.ask("reset")
                await self.publish(target, WARM_EVENTS, "twarm")
                await self.receiver.wait_for(WARM_EVENTS, 60 + WARM_EVENTS / 20)
                rate, cpu_ms = await self.measured(server.pid, target, "tr", "with tracing on")
            finally:
                # In a thread: the sink, on this loop, takes the spans flushed on the way out.
                await asyncio.to_thread(stop_server, server, log)
        check_log(database, WARM_EVENTS + self.options.events)
        print(
            f"  tracing on / off      rate {rate / rate_off:.0%}, server CPU per webhook"
            f" {cpu_ms / cpu_off:.0%} ({received.requests:,} OTLP exports,"
            f" {received.size / 1e6:.1f} MB of spans)",
            flush=True,
        )
        if not received.requests:
            print("    WARNING no span reached the OTLP sink", flush=True)
        self.figures += [
            Figure(
                "delivery",
                "end to end with tracing on (spans over OTLP to a local sink)",
                rate,
                "webhooks/s",
                "tracing off",
                rate_off,
            ),
            Figure(
                "delivery",
                "server CPU per webhook with tracing on",
                cpu_ms,
                "ms",
                "tracing off",
                cpu_off,
            ),
        ]

    async def latency(self, target: str) -> None:
        rate = self.options.rate
        count = int(rate * self.options.seconds)
        await self.receiver.ask("reset")
        with gc_paused():
            sent, acked = await publish_paced(
                target, TOKEN, [self.template], count=count, rate=rate, prefix="lat"
            )
        await self.receiver.wait_for(count, 60 + count / 20)
        dump = self.scratch / "arrivals.json"
        await self.receiver.ask("dump", prefix="lat-", path=str(dump))
        arrived: dict[str, float] = json.loads(dump.read_text())
        ids = [event_id for event_id in sent if event_id in acked and event_id in arrived]
        ack_to_arrival = [arrived[i] - acked[i] for i in ids]
        p50_ms = percentile(ack_to_arrival, 0.5) * 1000
        p99_ms = percentile(ack_to_arrival, 0.99) * 1000
        at = f"at {rate:,.0f} events/s for {self.options.seconds:g} s"
        self.figures += [
            Figure("delivery", f"ack → arrival p50 {at}", p50_ms, "ms"),
            Figure(
                "delivery",
                f"ack → arrival p99 {at}",
                p99_ms,
                "ms",
                target=f"< {TARGET_P99_MS:g} ms",
                verdict=verdict(p99_ms < TARGET_P99_MS),
            ),
        ]
        print(
            f"  latency, {rate:,.0f} events/s for {self.options.seconds:g} s, one per message"
            f" ({len(ids):,} events)\n"
            f"    ack -> arrival      {spread(ack_to_arrival)}"
            f"   {verdict(p99_ms < TARGET_P99_MS)} the p99 < {TARGET_P99_MS:g} ms target\n"
            f"    send -> ack         {spread([acked[i] - sent[i] for i in ids])}\n"
            f"    send -> arrival     {spread([arrived[i] - sent[i] for i in ids])}",
            flush=True,
        )
        # Arrivals keep pace with the sends unless deliveries fall behind and queue up.
        delivered = len(arrived) / (max(arrived.values()) - min(sent.values()))
        if delivered < 0.95 * rate:
            print(
                f"    deliveries fell behind ({delivered:,.0f}/s against {rate:,.0f}/s sent):"
                " the latency is mostly queueing",
                flush=True,
            )

    async def outage(self, database: Path, count: int) -> None:
        """`count` events ingested while the receiver holds the first requests, so that nothing
        is delivered; then the server killed."""
        log = self.scratch / "backlog-ingest.log"
        server = start_deskhook(database, self.ca, log)
        try:
            target = await self.connect(server, log)
            await self.receiver.ask("hold")
            started = time.monotonic()
            await self.publish(target, count, "bl")
            ingest_seconds = time.monotonic() - started
        finally:
            server.kill()  # the held attempts stay pending, unlogged: they were never answered
            await asyncio.to_thread(server.wait, 30)
        held = (await self.receiver.ask("answer"))["held"]
        await self.receiver.ask("reset")
        print(
            f"  backlog: {count:,} events ingested in {ingest_seconds:.1f} s ({held} attempts"
            " held, then the server killed); a new server drains it",
            flush=True,
        )

    async def backlog(self, raw_rate: float) -> None:
        count = self.options.backlog
        database, drain_log = self.scratch / "backlog.db", self.scratch / "drain.log"
        await self.outage(database, count)
        # A new server on the same database finds every delivery due at once.
        started = time.monotonic()
        server = start_deskhook(database, self.ca, drain_log)
        try:
            cpu = CpuMeter(server=server.pid, receiver=self.receiver.process.pid)
            profiler = Profiler(self.options.profile, server.pid, "drain", self.options.drain_limit)
            try:
                samples = await self.drain(server.pid, started, count)
            finally:
                profiler.stop()
            seconds = time.monotonic() - started
            peak, usage = peak_rss_mib(server.pid), cpu.report(seconds)
        finally:
            await asyncio.to_thread(stop_server, server, drain_log)
        stats = await self.receiver.ask("stats")  # with what arrived while it stopped
        delivered = stats["count"]
        done = "drained" if delivered >= count else f"NOT drained: {delivered:,} of {count:,}"
        for elapsed, arrived, mib in samples:
            print(f"    {elapsed:5.0f} s  {arrived:8,} delivered  peak RSS {mib:4.0f} MiB")
        print(
            f"    {done} in {seconds:.0f} s, {delivered / seconds:,.0f} webhooks/s"
            f"   {usage}"
            f"   ({stats['duplicates']} duplicates, {stats['rejected']} bad signatures)\n"
            f"    server peak RSS     {peak:8.0f} MiB"
            f"              {verdict(peak < TARGET_RSS_MIB)} the < {TARGET_RSS_MIB:.0f} MiB target",
            flush=True,
        )
        drained = f"draining a backlog of {count:,}"
        self.figures += [
            Figure(
                "delivery",
                f"deskhook {drained}",
                delivered / seconds,
                "webhooks/s",
                "raw aiohttp client",
                raw_rate,
                f"≥ {TARGET_RATIO:.0%} of the baseline",
                verdict(delivered / seconds / raw_rate >= TARGET_RATIO),
            ),
            Figure(
                "delivery",
                f"server peak RSS {drained}",
                peak,
                "MiB",
                target=f"< {TARGET_RSS_MIB:.0f} MiB",
                verdict=verdict(peak < TARGET_RSS_MIB),
            ),
        ]
        check_log(database, delivered)

    async def drain(self, pid: int, started: float, count: int) -> list[tuple[float, int, float]]:
        """Wait for `count` arrivals, or --drain-limit seconds; (seconds, arrivals, peak RSS)
        every sixth of the limit and at the end."""
        limit = self.options.drain_limit
        samples: list[tuple[float, int, float]] = []
        next_sample = limit / 6
        while True:
            arrived = (await self.receiver.ask("stats"))["count"]
            elapsed = time.monotonic() - started
            if arrived >= count or elapsed >= limit:
                samples.append((elapsed, arrived, peak_rss_mib(pid)))
                return samples
            if elapsed >= next_sample:
                samples.append((elapsed, arrived, peak_rss_mib(pid)))
                next_sample += limit / 6
            await asyncio.sleep(0.2)


async def run(options: Options, body_bytes: int, results: Path | None) -> None:
    template = sample_event(body_bytes)
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        async with receiving(scratch) as (receiver, ca):
            bench = Bench(options, scratch, receiver, ca, template)
            size = len(body_of(template, "raw-100000"))
            print(
                f"{options.events:,} webhooks of {size:,} bytes, concurrency"
                f" {options.concurrency} (raw client and channel max_concurrency alike),"
                f" {os.cpu_count()} cores; CPU in % of one core",
                flush=True,
            )
            raw_rate = await bench.raw()
            await bench.deskhook(raw_rate)
            await bench.backlog(raw_rate)
    if results is not None:
        write_figures(results, bench.figures)


def main() -> None:
    parser = bench_parser(__doc__)
    add = parser.add_argument
    add("--events", type=int, default=10_000, help="webhooks per rate run")
    add("--concurrency", type=int, default=10, choices=range(1, 101), metavar="1..100")
    add("--rate", type=float, default=500, help="events/s of the latency run")
    add("--seconds", type=float, default=10, help="length of the latency run")
    add("--backlog", type=int, default=100_000, help="due deliveries to drain")
    add("--drain-limit", type=float, default=240, help="seconds the drain may take at most")
    add("--body-bytes", type=int, default=1024, help="pad the webhook body to this size")
    add("--per-message", type=int, default=50, help="events per gRPC message when streaming")
    add("--quick", action="store_true", help="small sizes, for a smoke test")
    add("--profile", type=Path, metavar="DIR", help="record the server with py-spy into DIR")
    args = parser.parse_args()
    if args.quick:
        args.events, args.seconds, args.backlog, args.drain_limit = 3000, 3, 10_000, 60
    options = Options(
        args.events,
        args.concurrency,
        args.rate,
        args.seconds,
        args.backlog,
        args.drain_limit,
        args.per_message,
        args.profile,
    )
    uvloop.run(run(options, args.body_bytes, args.results))


if __name__ == "__main__":
    main()
