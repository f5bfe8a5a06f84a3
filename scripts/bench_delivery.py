#!/usr/bin/env python3
"""Delivery benchmark, in one run:

1. the raw limit: a bare aiohttp client POSTs the same signed webhook bodies deskhook sends over
   HTTPS keep-alive to the same receiver, with the same concurrency;
2. deskhook end to end: events streamed in over gRPC, delivered over HTTPS, received and
   verified, every attempt logged; its rate against the raw one (target: at least 60%);
3. latency from the producer's ack to the webhook's arrival at a steady 500 events/s
   (target: p99 under 25 ms);
4. a backlog of 100,000 due deliveries drained by a freshly started server (target: peak RSS
   under 200 MiB), for at most --drain-limit seconds.

    .venv/bin/python scripts/bench_delivery.py [--events 10000] [--concurrency 10]
        [--rate 500] [--seconds 10] [--backlog 100000] [--drain-limit 240]
        [--body-bytes 1024] [--quick] [--profile DIR] [--results FILE]

The receiver (aiohttp over TLS with a trustme certificate for localhost, verifying every
signature with `standardwebhooks`), deskhook and the client each run in their own process, all
on 127.0.0.1. Arrival and ack times are CLOCK_MONOTONIC, which is system-wide on Linux, so the
two processes' readings compare directly. The body is the sample event of the tests with a
custom field padding it to --body-bytes (0: unpadded); the raw client sends deskhook's own
rendering of it.

The backlog is what an outage leaves: deskhook ingests the events while the receiver holds the
first requests unanswered (so no delivery completes and the rest stay queued), and is killed
once every event is acked (SIGKILL: a graceful stop would let the held attempts time out after
15 s and log them as failed first attempts). Acked events and their deliveries are durable, so
a new server on the same database finds every delivery due at once, each a first attempt; its
peak RSS is that of the drain alone.

`--profile DIR` records the server with py-spy (raw collapsed stacks) during the deskhook
phases; sampling slows it a little, so take figures from a run without it.
"""

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import trustme
import uvloop
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from deskhook.client import open_channel
from deskhook.delivery.payload import event_body
from deskhook.domain.events import EventType
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
from benchkit import (  # noqa: E402
    Figure,
    gc_paused,
    peak_rss_mib,
    percentile,
    publish_paced,
    spread,
    verdict,
    write_figures,
)

from tests.events import make_event  # noqa: E402

TOKEN = "bench-token"
DEPARTMENT_ID = 7
TARGET_RATIO = 0.6
TARGET_P99_MS = 25.0
TARGET_RSS_MIB = 200.0
WARM_EVENTS = 1000
# The receiver holds a request at most this long in hold mode; the server is killed long before.
HOLD_SECONDS = 120.0
CONNECTION_TEST = "connection_test"
# As long as the ids deskhook gives channels, so the raw bodies have the same length.
RAW_CHANNEL_ID = "ch_" + "a" * 24
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the receiver: its own process, driven over stdin/stdout with one JSON line per command ---


@dataclass
class ReceiverState:
    """What arrived: the first arrival of each event id, in CLOCK_MONOTONIC seconds."""

    webhook: Webhook | None = None
    # Set while holding: requests wait for it (bounded) and are not counted.
    release: asyncio.Event | None = None
    arrivals: dict[str, float] = field(default_factory=dict)
    first: float = 0.0
    last: float = 0.0
    duplicates: int = 0
    rejected: int = 0
    held: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.monotonic()
        # The connection test is signed with a secret CreateChannel has not returned yet.
        if request.headers.get("x-deskhook-event-type") == CONNECTION_TEST:
            return web.Response()
        if self.release is not None:
            self.held += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), HOLD_SECONDS)
            return web.Response(status=503)
        try:
            if self.webhook is None:
                raise WebhookVerificationError("no secret yet")  # noqa: TRY301 - same answer
            event_id = self.webhook.verify(body, dict(request.headers))["event_id"]
        except WebhookVerificationError:
            self.rejected += 1
            return web.Response(status=400)
        if event_id in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[event_id] = arrived
            self.first = self.first or arrived
            self.last = arrived
        return web.Response()

    def command(self, request: dict[str, Any]) -> dict[str, Any]:
        match request["op"]:
            case "secret":
                self.webhook = Webhook(request["secret"])
            case "hold":
                self.release = asyncio.Event()
            case "answer":
                if self.release is not None:
                    self.release.set()
                self.release = None
            case "reset":
                self.arrivals = {}
                self.first = self.last = 0.0
                self.duplicates = self.rejected = self.held = 0
            case "dump":
                prefix = request["prefix"]
                arrivals = {k: v for k, v in self.arrivals.items() if k.startswith(prefix)}
                Path(request["path"]).write_text(json.dumps(arrivals))
        return {
            "count": len(self.arrivals),
            "first": self.first,
            "last": self.last,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "held": self.held,
        }


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def receiver(certificate: str) -> None:
    state = ReceiverState()
    app = web.Application()
    app.router.add_post("/hook", state.handle)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0)
    await runner.setup()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificate)
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls).start()
    reply({"port": runner.addresses[0][1]})
    commands = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(commands), sys.stdin
    )
    # Runs until the benchmark closes stdin (or dies).
    while line := await commands.readline():
        reply(state.command(json.loads(line)))
    await runner.cleanup()


class ReceiverProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        if process.stdin is None or process.stdout is None:
            raise ValueError("the receiver is driven over its stdin and stdout")
        self.process = process
        self.url = ""
        self._commands, self._replies = process.stdin, process.stdout

    @classmethod
    async def start(cls, certificate: Path, log: Path) -> "ReceiverProcess":
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--receiver",
                str(certificate),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=sink,
            )
        started = cls(process)
        started.url = f"https://localhost:{(await started._read())['port']}/hook"
        return started

    async def _read(self) -> dict[str, Any]:
        async with asyncio.timeout(30):
            line = await self._replies.readline()
        if not line:
            raise SystemExit("the receiver exited")
        result: dict[str, Any] = json.loads(line)
        return result

    async def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        self._commands.write(json.dumps({"op": op, **fields}).encode() + b"\n")
        await self._commands.drain()
        return await self._read()

    async def wait_for(self, count: int, seconds: float) -> dict[str, Any]:
        """Stats once `count` events have arrived; gives up after `seconds`."""
        deadline = time.monotonic() + seconds
        while (stats := await self.ask("stats"))["count"] < count:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"only {stats['count']:,} of {count:,} webhooks arrived in {seconds:.0f} s"
                )
            await asyncio.sleep(0.1)
        return stats

    async def stop(self) -> None:
        self._commands.close()
        try:
            async with asyncio.timeout(10):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


# --- processes -------------------------------------------------------------------------------


def start_deskhook(database: Path, ca: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start `deskhook serve`; its log goes to `log` (a pipe left unread would stall it)."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            [
                sys.executable, "-m", "deskhook", "serve",
                "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                "--database", str(database),
                "--admin-token", TOKEN, "--ingest-token", TOKEN,
                "--allow-network", "127.0.0.0/8",
                "--ca-bundle", str(ca),
            ],
            stderr=sink,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DESKHOOK_LOG_FORMAT": "json"},
        )  # fmt: skip


def listening_port(log: Path) -> int | None:
    with log.open() as lines:
        for line in lines:
            if '"listening"' in line:
                return int(json.loads(line)["port"])
    return None


def log_tail(log: Path) -> str:
    return log.read_text()[-4000:]


async def wait_listening(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        if (port := listening_port(log)) is not None:
            return f"127.0.0.1:{port}"
        await asyncio.sleep(0.05)
    process.kill()
    raise SystemExit(f"deskhook did not start:\n{log_tail(log)}")


async def stop_deskhook(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, and the graceful stop it starts (up to 10 s for attempts in flight). A server
    that does not stop is a finding: its stacks and log tail are shown before it is killed."""
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(process.wait, 60)
    except subprocess.TimeoutExpired:
        stacks = stacks_of(process.pid)
        process.kill()
        raise SystemExit(
            f"deskhook did not stop within 60 s of SIGTERM; its stacks:\n{stacks}\n"
            f"its log:\n{log_tail(log)}"
        ) from None


def stacks_of(pid: int) -> str:
    dump = subprocess.run(
        [str(Path(sys.executable).parent / "py-spy"), "dump", "--pid", str(pid)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return dump.stdout + dump.stderr


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU of a process, every thread included, or of one of its threads (the
    main thread's id is the process id)."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def busy_seconds() -> float:
    """CPU time the whole machine spent busy, over every core."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class CpuMeter:
    """The CPU each named process used over a phase, and what the rest of the machine used:
    the machine is shared, and a busy neighbour shows up as `other`. The server's main thread
    (its event loop) is shown apart from its SQLite threads."""

    def __init__(self, **pids: int) -> None:
        self._pids = pids
        self._start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self._loop = cpu_seconds(pids["server"], pids["server"]) if "server" in pids else 0.0
        self._busy = busy_seconds()

    def report(self, seconds: float) -> str:
        used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self._pids.items()}
        shares = {name: f"{cpu / seconds:.0%}" for name, cpu in used.items()}
        if "server" in self._pids:
            loop = cpu_seconds(self._pids["server"], self._pids["server"]) - self._loop
            shares["server"] += f" (main thread {loop / seconds:.0%})"
        other = max(busy_seconds() - self._busy - sum(used.values()), 0.0)
        shares["other"] = f"{other / seconds:.0%}"
        return "CPU " + ", ".join(f"{name} {share}" for name, share in shares.items())


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


class Profiler:
    """py-spy recording one process into a raw collapsed-stack file, when asked for."""

    def __init__(self, directory: Path | None, pid: int, name: str, seconds: float) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"), "record",
                    "--format", "raw", "--output", str(directory / f"{name}.raw"),
                    "--pid", str(pid), "--rate", "200", "--duration", str(int(seconds) + 1),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            self._process.wait(timeout=30)


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


def messages(
    template: event_pb2.Event, count: int, per_message: int, prefix: str
) -> Iterator[pb.PublishEventsRequest]:
    for start in range(0, count, per_message):
        request = pb.PublishEventsRequest()
        for n in range(start, min(start + per_message, count)):
            event = request.events.add()
            event.CopyFrom(template)
            event.event_id = f"{prefix}-{n}"
        yield request


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


# --- deskhook --------------------------------------------------------------------------------


async def create_channel(target: str, url: str, concurrency: int) -> str:
    """One channel for department 7's ticket_create with retries on; its signing secret."""
    async with open_channel(target, TOKEN) as channel:
        created = await channel_admin_pb2_grpc.ChannelAdminStub(channel).CreateChannel(
            channel_admin_pb2.CreateChannelRequest(
                channel=channel_pb2.Channel(
                    name="bench",
                    url=url,
                    department_id=DEPARTMENT_ID,
                    subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
                    retries_enabled=True,
                    max_concurrency=concurrency,
                )
            ),
            timeout=30,
        )
    status = created.channel.connection_status
    if status.state != channel_pb2.CONNECTION_STATE_ESTABLISHED:
        raise SystemExit(f"the channel's connection test failed: {status.message}")
    return created.signing_secret


async def publish(
    target: str, template: event_pb2.Event, count: int, per_message: int, prefix: str
) -> None:
    """Stream `count` events over one PublishEvents call; every one must be accepted."""
    accepted = 0
    async with open_channel(target, TOKEN) as channel, asyncio.timeout(60 + count / 1000):
        call = event_ingest_pb2_grpc.EventIngestStub(channel).PublishEvents(
            messages(template, count, per_message, prefix)
        )
        async for response in call:
            accepted += sum(ack.result == pb.EVENT_ACK_RESULT_ACCEPTED for ack in response.acks)
    if accepted != count:
        raise SystemExit(f"only {accepted:,} of {count:,} events were accepted")


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
            target = await wait_listening(server, log)
            secret = await create_channel(target, self.receiver.url, self.options.concurrency)
            await self.receiver.ask("secret", secret=secret)
            await self.receiver.ask("reset")
            await publish(target, self.template, WARM_EVENTS, self.options.per_message, "warm")
            await self.receiver.wait_for(WARM_EVENTS, 60 + WARM_EVENTS / 20)
            await self.throughput(server.pid, target, raw_rate)
            await self.latency(target)
        finally:
            await stop_deskhook(server, log)
        latency_events = int(self.options.rate * self.options.seconds)
        check_log(database, WARM_EVENTS + self.options.events + latency_events)

    async def throughput(self, pid: int, target: str, raw_rate: float) -> None:
        count = self.options.events
        bound = 60 + count / 20
        await self.receiver.ask("reset")
        cpu = CpuMeter(server=pid, receiver=self.receiver.process.pid, client=os.getpid())
        profiler = Profiler(self.options.profile, pid, "throughput", bound)
        started = time.monotonic()
        try:
            await publish(target, self.template, count, self.options.per_message, "tp")
            stats = await self.receiver.wait_for(count, bound)
        finally:
            profiler.stop()
        seconds = float(stats["last"]) - started
        rate = count / seconds
        print(
            f"  deskhook end to end   {rate:8,.0f} webhooks/s   {cpu.report(seconds)}"
            f"   ({stats['duplicates']} duplicates, {stats['rejected']} bad signatures)",
            flush=True,
        )
        ratio = rate / raw_rate
        print(
            f"  deskhook / raw        {ratio:8.0%}"
            f"                {verdict(ratio >= TARGET_RATIO)} the {TARGET_RATIO:.0%} target",
            flush=True,
        )
        self.figures.append(
            Figure(
                "delivery",
                f"deskhook end to end, {count:,} webhooks, concurrency {self.options.concurrency}",
                rate,
                "webhooks/s",
                "raw aiohttp client",
                raw_rate,
                f"≥ {TARGET_RATIO:.0%} of the baseline",
                verdict(ratio >= TARGET_RATIO),
            )
        )

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

    async def backlog(self, raw_rate: float) -> None:
        count = self.options.backlog
        database = self.scratch / "backlog.db"
        ingest_log, drain_log = self.scratch / "backlog-ingest.log", self.scratch / "drain.log"
        # Ingest while the receiver holds the first requests: nothing is delivered.
        server = start_deskhook(database, self.ca, ingest_log)
        try:
            target = await wait_listening(server, ingest_log)
            secret = await create_channel(target, self.receiver.url, self.options.concurrency)
            await self.receiver.ask("secret", secret=secret)
            await self.receiver.ask("hold")
            started = time.monotonic()
            await publish(target, self.template, count, self.options.per_message, "bl")
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
            await stop_deskhook(server, drain_log)
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
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(scratch / "ca.pem"))
        certificate = scratch / "receiver.pem"
        ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(str(certificate))
        template = sample_event(body_bytes)
        receiver = await ReceiverProcess.start(certificate, scratch / "receiver.log")
        try:
            bench = Bench(options, scratch, receiver, scratch / "ca.pem", template)
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
        finally:
            await receiver.stop()
    if results is not None:
        write_figures(results, bench.figures)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
    add("--results", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    add("--receiver", metavar="PEM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        uvloop.run(receiver(args.receiver))
        return
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
