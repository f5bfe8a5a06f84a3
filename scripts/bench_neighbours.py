#!/usr/bin/env python3
"""Noisy neighbour benchmark: one account's backlog must not hold up another account's
deliveries (docs/design.md §5.4). In one run, on one server:

a. account "b" alone: its channel gets events published one per message at --rate (50/s) for
   --seconds (20 s); the latency from the producer's ack to the webhook's arrival, p50 and p99;
b. account "a" gets a backlog of --backlog (100,000) events spread over --channels (50) channels
   of its own, enough to fill the scheduler's window many times over, streamed in as fast as
   flow control lets; while it drains, "b" publishes again as in (a). Target: b's p99 under
   100 ms and at most twice its p99 alone in (a).

    .venv/bin/python scripts/bench_neighbours.py [--backlog 100000] [--channels 50]
        [--rate 50] [--seconds 20] [--isolated] [--quick] [--results FILE]

--isolated gives each account a server and a database of its own: what perfect isolation
between the accounts would reach on this machine, the floor any design sharing it can hope for.

Every channel has a department of its own (b's is 7, a's 100 and up), so each event matches
exactly one channel whether or not matching keeps to the event's account; events and channels
carry their `account_id` ("a" or "b"). The server runs in its own process (`deskhook serve`, on
SQLite); so do two receivers (benchkit.receiver: aiohttp over TLS, each signature checked with
its own channel's secret, a path a channel): one for a's channels and one for b's, so that b's
arrivals are timed by a process a's flood does not keep busy. Ack and arrival times are
CLOCK_MONOTONIC, system-wide on Linux, so the processes' readings compare directly.

The run is bounded: publishing lasts --seconds in each phase, a's backlog need not drain (the
server is stopped once b's events are in), and every wait gives up after a bound. If a's
backlog ran out before b's second phase ended, the run says so: b then had the server to itself
for part of it.
"""

import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvloop

from deskhook.v1 import event_pb2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' sample event and the server's flags
from benchkit.figures import Figure, bench_parser, conclude, percentile, spread, verdict  # noqa: E402
from benchkit.load import create_channel, gc_paused, publish, publish_paced  # noqa: E402
from benchkit.proc import CpuMeter, cpu_stolen  # noqa: E402
from benchkit.processes import serve_command, spawn, stop_server, wait_listening  # noqa: E402
from benchkit.receiver import ReceiverProcess, receiving  # noqa: E402

from tests.support.events import make_event  # noqa: E402
from tests.support.serve_process import delivery_flags  # noqa: E402

TOKEN = "bench-token"
QUIET, NOISY = "b", "a"
QUIET_DEPARTMENT, NOISY_DEPARTMENT_BASE = 7, 100
CONCURRENCY = 10
PER_MESSAGE = 50
TARGET_P99_MS = 100.0
TARGET_RATIO = 2.0
# How long b's last webhooks may trail its last event, and a's backlog may take to go in.
SETTLE_SECONDS = 60.0
MAX_BACKLOG, MAX_CHANNELS, MAX_RATE, MAX_SECONDS = 1_000_000, 500, 1000.0, 120.0


@dataclass(frozen=True)
class Options:
    backlog: int
    channels: int
    rate: float
    seconds: float
    isolated: bool


@dataclass(frozen=True)
class Phase:
    """What b's events met in one phase: ack -> arrival of each (seconds), how many of those
    acked arrived, and how many came twice or with a bad signature."""

    latencies: list[float]
    acked: int
    delivered: int
    duplicates: int
    bad_signatures: int

    def ms(self, fraction: float) -> float:
        """A percentile in milliseconds; NaN when none arrived."""
        return percentile(self.latencies, fraction) * 1000 if self.latencies else math.nan

    def spread(self) -> str:
        if not self.latencies:
            return f"none arrived within {SETTLE_SECONDS:g} s of the last event"
        return f"{spread(self.latencies)}  ({self.delivered:,} of {self.acked:,} events)"


@dataclass(frozen=True)
class Result:
    options: Options
    alone: Phase
    beside: Phase
    ingest_seconds: float  # a's backlog, streamed in
    noisy_delivered: int  # a's webhooks that arrived while b published beside them
    noisy_left: int  # of a's backlog, still to arrive when b's second phase ended
    duplicates: int
    bad_signatures: int
    usage: str  # CPU during the second phase
    stolen: float | None

    @property
    def ok(self) -> bool:
        """Every event of b arrived, once, signed right: what a short run checks."""
        return (
            self.alone.delivered == self.alone.acked
            and self.beside.delivered == self.beside.acked
            and not self.duplicates
            and not self.bad_signatures
        )

    @property
    def meets(self) -> bool:
        p99, alone = self.beside.ms(0.99), self.alone.ms(0.99)
        return p99 < TARGET_P99_MS and p99 <= TARGET_RATIO * alone

    def figures(self) -> list[Figure]:
        o = self.options
        at = f"{o.rate:g} events/s for {o.seconds:g} s"
        beside = f"beside a's backlog of {o.backlog:,} on {o.channels} channels"
        bench = "neighbours, a server each" if o.isolated else "neighbours"
        return [
            Figure(bench, f"b alone: ack → arrival p50, {at}", self.alone.ms(0.5), "ms"),
            Figure(bench, f"b alone: ack → arrival p99, {at}", self.alone.ms(0.99), "ms"),
            Figure(
                bench,
                f"b {beside}: ack → arrival p50",
                self.beside.ms(0.5),
                "ms",
                "b alone",
                self.alone.ms(0.5),
            ),
            Figure(
                bench,
                f"b {beside}: ack → arrival p99",
                self.beside.ms(0.99),
                "ms",
                "b alone",
                self.alone.ms(0.99),
                f"< {TARGET_P99_MS:g} ms and ≤ {TARGET_RATIO:.0%} of the baseline",
                verdict(self.meets),
            ),
            Figure(
                bench,
                f"a's deliveries while b published beside them ({o.channels} channels)",
                self.noisy_delivered / o.seconds,
                "webhooks/s",
            ),
        ]

    def lines(self) -> list[str]:
        rows = [
            f"b alone                 {self.alone.spread()}",
            f"b beside a's backlog    {self.beside.spread()}",
            f"b's p99 beside / alone  {self.beside.ms(0.99) / self.alone.ms(0.99):.0%}"
            f"   {verdict(self.meets)} the p99 < {TARGET_P99_MS:g} ms and"
            f" ≤ {TARGET_RATIO:.0%} target",
            f"a's backlog: {self.options.backlog:,} events in {self.ingest_seconds:.1f} s;"
            f" {self.noisy_delivered:,} delivered while b published"
            f" ({self.noisy_delivered / self.options.seconds:,.0f}/s), {self.noisy_left:,} left"
            " when b was done",
            f"second phase: {self.usage}; the host took"
            f" {'an unknown share' if self.stolen is None else f'{self.stolen:.0%}'} of the CPU",
            f"{self.duplicates} duplicates, {self.bad_signatures} bad signatures",
        ]
        if not self.noisy_left:
            rows.append(
                "WARNING a's backlog ran out before b was done: b had the server to itself"
                " for part of its second phase; raise --backlog"
            )
        rows.append("verdict: " + ("ok" if self.ok else "FAILED: b's events missing or forged"))
        return rows


def template(account_id: str, department_id: int) -> event_pb2.Event:
    event = make_event("template", department_id=department_id)
    event.account_id = account_id
    return event


@dataclass
class Bench:
    options: Options
    scratch: Path
    # The server a's channels and events go to, and b's: one and the same but with --isolated.
    target: str
    quiet_target: str
    quiet: ReceiverProcess
    noisy: ReceiverProcess

    async def create_channels(self) -> None:
        """b's channel, then a's, each verified at its own path of its account's receiver."""
        for receiver, account, department, path in [
            (self.quiet, QUIET, QUIET_DEPARTMENT, "/b"),
            *(
                (self.noisy, NOISY, NOISY_DEPARTMENT_BASE + n, f"/a-{n}")
                for n in range(self.options.channels)
            ),
        ]:
            secret = await create_channel(
                self.quiet_target if account == QUIET else self.target,
                TOKEN,
                receiver.base + path,
                CONCURRENCY,
                department_id=department,
                account_id=account,
            )
            await receiver.ask("secret", secret=secret, path=path)

    def noisy_templates(self) -> list[event_pb2.Event]:
        return [template(NOISY, NOISY_DEPARTMENT_BASE + n) for n in range(self.options.channels)]

    async def warm(self) -> None:
        """An event to each channel, so that every connection is open before anything is
        timed."""
        count = self.options.channels
        await publish(
            self.target, TOKEN, self.noisy_templates(), count=count, per_message=count,
            prefix="a-warm",
        )  # fmt: skip
        await publish_paced(
            self.quiet_target, TOKEN, [template(QUIET, QUIET_DEPARTMENT)], count=10, rate=50,
            prefix="b-warm",
        )  # fmt: skip
        await self.noisy.wait_for(count, SETTLE_SECONDS)
        await self.quiet.wait_for(10, SETTLE_SECONDS)
        for receiver in (self.quiet, self.noisy):
            await receiver.ask("reset")

    async def quiet_phase(self, prefix: str) -> Phase:
        """b publishes at the steady rate; what its events met."""
        count = int(self.options.rate * self.options.seconds)
        await self.quiet.ask("reset")
        with gc_paused():
            _, acked = await publish_paced(
                self.quiet_target,
                TOKEN,
                [template(QUIET, QUIET_DEPARTMENT)],
                count=count,
                rate=self.options.rate,
                prefix=prefix,
            )
        stats: dict[str, int] = {}
        with contextlib.suppress(SystemExit):  # a shortfall is counted below
            stats = await self.quiet.wait_for(len(acked), SETTLE_SECONDS)
        stats = stats or await self.quiet.ask("stats")
        dump = self.scratch / f"{prefix}.json"
        await self.quiet.ask("dump", prefix=f"{prefix}-", path=str(dump))
        arrived: dict[str, float] = json.loads(dump.read_text())
        latencies = [arrived[i] - acked[i] for i in acked if i in arrived]
        return Phase(latencies, len(acked), len(latencies), stats["duplicates"], stats["rejected"])


async def listening(server: subprocess.Popen[bytes], log: Path) -> str:
    return f"127.0.0.1:{await asyncio.to_thread(wait_listening, server, log)}"


@contextlib.asynccontextmanager
async def receivers(scratch: Path) -> AsyncIterator[tuple[ReceiverProcess, ReceiverProcess, Path]]:
    """b's receiver and a's, in processes of their own with one certificate; the CA's file."""
    async with receiving(scratch) as (quiet, ca):
        noisy = await ReceiverProcess.start(scratch / "receiver.pem", scratch / "noisy.log")
        try:
            yield quiet, noisy, ca
        finally:
            await noisy.stop()


@contextlib.asynccontextmanager
async def serving(scratch: Path, name: str, ca: Path) -> AsyncIterator[tuple[int, str]]:
    """A server on a database of its own: its pid and its address."""
    log = scratch / f"{name}.log"
    server = spawn(serve_command(scratch / f"{name}.db", *delivery_flags(TOKEN, TOKEN, ca)), log)
    try:
        yield server.pid, await listening(server, log)
    finally:
        await asyncio.to_thread(stop_server, server, log)


async def measure(scratch: Path, options: Options) -> Result:
    async with receivers(scratch) as (quiet, noisy, ca), contextlib.AsyncExitStack() as servers:
        pid, target = await servers.enter_async_context(serving(scratch, "deskhook", ca))
        pids = {"server": pid}
        quiet_target = target
        if options.isolated:
            pids["b's server"], quiet_target = await servers.enter_async_context(
                serving(scratch, "deskhook-b", ca)
            )
        bench = Bench(options, scratch, target, quiet_target, quiet, noisy)
        await bench.create_channels()
        await bench.warm()
        alone = await bench.quiet_phase("alone")
        started = time.monotonic()
        async with asyncio.timeout(SETTLE_SECONDS + options.backlog / 1000):
            await publish(
                bench.target,
                TOKEN,
                bench.noisy_templates(),
                count=options.backlog,
                per_message=PER_MESSAGE,
                prefix="a",
            )
        ingest_seconds = time.monotonic() - started
        before = (await noisy.ask("stats"))["count"]
        cpu = CpuMeter(**pids, quiet=quiet.process.pid, noisy=noisy.process.pid)
        with cpu_stolen() as stolen:
            started = time.monotonic()
            beside = await bench.quiet_phase("beside")
            usage = cpu.report(time.monotonic() - started)
        # What a delivered while b's events went out (and their last arrivals came in).
        after = await noisy.ask("stats")
    return Result(
        options,
        alone,
        beside,
        ingest_seconds,
        noisy_delivered=after["count"] - before,
        noisy_left=options.backlog - after["count"],
        duplicates=alone.duplicates + beside.duplicates + after["duplicates"],
        bad_signatures=alone.bad_signatures + beside.bad_signatures + after["rejected"],
        usage=usage,
        stolen=stolen.share,
    )


async def main(options: Options, results: Path | None) -> int:
    print(
        f"noisy neighbour: account b publishes {options.rate:g} events/s for"
        f" {options.seconds:g} s alone, then beside account a's backlog of"
        f" {options.backlog:,} events on {options.channels} channels; {os.cpu_count()} cores,"
        " CPU in % of one core",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as scratch:
        result = await measure(Path(scratch), options)
    return conclude(result.lines(), result.figures(), results, result.ok)


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    add = parser.add_argument
    add("--backlog", type=int, default=100_000, help="account a's events")
    add("--channels", type=int, default=50, help="account a's channels")
    add("--rate", type=float, default=50, help="account b's events per second")
    add("--seconds", type=float, default=20, help="how long b publishes in each phase")
    add("--isolated", action="store_true", help="each account on a server of its own")
    add("--quick", action="store_true", help="small sizes, a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.backlog, args.channels, args.seconds = 10_000, 10, 3
    if not (
        args.channels <= args.backlog <= MAX_BACKLOG
        and 1 <= args.channels <= MAX_CHANNELS
        and 0 < args.rate <= MAX_RATE
        and 1 / args.rate <= args.seconds <= MAX_SECONDS
    ):
        parser.error(
            f"--backlog must be from --channels to {MAX_BACKLOG:,}, --channels from 1 to"
            f" {MAX_CHANNELS}, --rate in (0, {MAX_RATE:g}] and --seconds up to"
            f" {MAX_SECONDS:g}, long enough for one event"
        )
    options = Options(args.backlog, args.channels, args.rate, args.seconds, args.isolated)
    sys.exit(uvloop.run(main(options, args.results)))
