#!/usr/bin/env python3
"""Replicas benchmark, in one run: deliveries/s end to end, and the CPU each spends per 1,000
deliveries, for

a. SQLite, one replica;
b. PostgreSQL, one replica;
c. PostgreSQL, two replicas sharing one database.

    .venv/bin/python scripts/bench_replicas.py [--events 10000] [--postgres URL] [--quick]
        [--results FILE]

Each setup gets a fresh database (on PostgreSQL a new database on the server --postgres names,
by default DESKHOOK_TEST_POSTGRES, copied from a migrated template and dropped afterwards) and
fresh `deskhook serve` processes. The first replica creates the one channel (concurrency 10, as
in scripts/bench_delivery.py); the second starts after it. After a warm-up, --events events
(1 KiB webhooks) are streamed as fast as flow control lets, 50 a message, split evenly over the
replicas, one stream each; the rate is the events over the time from the first send to the last
arrival. The receiver is
scripts/bench_delivery.py's (benchkit.receiver): its own process, HTTPS, verifying every
signature. Every event must arrive once.

CPU is user + system time from /proc over the measured phase, ingest and delivery together:
of the deskhook processes, and, as a separate column, of the PostgreSQL backends serving the
run's database (found by their process titles, so only when the server runs on this machine;
its shared background processes, such as the WAL writer, are left out). Divided into 1,000,
each gives the deliveries/s one core sustains; the README's sizing note comes from these. The
machine's busy share shows how much of it the run took: the processes share its cores.
Everything listens on 127.0.0.1; every wait is bounded.

Targets: SQLite at most 0.45 CPU s of deskhook per 1,000; PostgreSQL with one replica at least
75% of SQLite's rate, its backends at most 0.6 CPU s per 1,000; two replicas at least one's
rate (on a machine with the cores for both: here all share 2).
"""

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import uvloop
from bench_delivery import TOKEN, WARM_EVENTS, sample_event
from benchkit.figures import Figure, bench_parser, conclude, verdict
from benchkit.load import create_channel, publish
from benchkit.proc import busy_seconds, cpu_seconds
from benchkit.receiver import ReceiverProcess, receiving

from deskhook.store.location import redacted
from deskhook.v1 import event_pb2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' server runner and databases
from tests.support.databases import POSTGRES_ENV, PostgresServer  # noqa: E402
from tests.support.serve_process import ServeProcess, delivery_flags, serve_process  # noqa: E402

CONCURRENCY = 10
PER_MESSAGE = 50
BODY_BYTES = 1024
MAX_EVENTS = 1_000_000


@dataclass(frozen=True)
class Setup:
    name: str
    postgres: bool
    replicas: int


SQLITE_ONE = Setup("SQLite, 1 replica", postgres=False, replicas=1)
POSTGRES_ONE = Setup("PostgreSQL, 1 replica", postgres=True, replicas=1)
POSTGRES_TWO = Setup("PostgreSQL, 2 replicas", postgres=True, replicas=2)


@dataclass(frozen=True)
class Usage:
    """CPU seconds over a phase."""

    deskhook: float  # every replica
    postgres: float | None  # the backends serving the run's database; None if none was seen
    harness: float  # the receiver and this process (the producers)
    busy: float  # the whole machine, over every core

    @property
    def others(self) -> float:
        """What the rest of the machine used: neighbours, and PostgreSQL's shared processes."""
        return max(self.busy - self.deskhook - (self.postgres or 0.0) - self.harness, 0.0)


@dataclass(frozen=True)
class Run:
    setup: Setup
    events: int
    seconds: float  # first send to last arrival
    cpu: Usage
    duplicates: int
    bad_signatures: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def ok(self) -> bool:
        return not self.duplicates and not self.bad_signatures

    def per_thousand(self, cpu: float) -> float:
        return cpu / self.events * 1000


def backend_pids(database: str) -> list[int]:
    """The PostgreSQL backends on this machine serving `database`, by their process titles:
    `postgres: USER DATABASE HOST(PORT) STATE`."""
    name = urlsplit(database).path.removeprefix("/")
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        if title.split()[:1] == ["postgres:"] and title.split()[2:3] == [name]:
            pids.append(int(entry.name))
    return pids


def cpu_by_pid(pids: Sequence[int]) -> dict[int, float]:
    used = {}
    for pid in pids:
        with suppress(OSError):  # gone meanwhile
            used[pid] = cpu_seconds(pid)
    return used


class Meter:
    """The CPU used from now on by the replicas, the harness, and the PostgreSQL backends
    serving `database`, those opened later included. A backend that exits meanwhile takes its
    share with it, but the replicas' pool connections live as long as they do."""

    def __init__(
        self, deskhook: Sequence[int], harness: Sequence[int], database: str | None
    ) -> None:
        self._pids = {"deskhook": deskhook, "harness": harness}
        self._database = database
        self._start = self._read()
        self._busy = busy_seconds()

    def _read(self) -> dict[str, dict[int, float]]:
        backends = backend_pids(self._database) if self._database else []
        return {
            group: cpu_by_pid(pids) for group, pids in {**self._pids, "postgres": backends}.items()
        }

    def usage(self) -> Usage:
        now = self._read()
        used = {
            group: sum(cpu - self._start[group].get(pid, 0.0) for pid, cpu in readings.items())
            for group, readings in now.items()
        }
        return Usage(
            deskhook=used["deskhook"],
            postgres=used["postgres"] if now["postgres"] else None,
            harness=used["harness"],
            busy=busy_seconds() - self._busy,
        )


def target(served: ServeProcess) -> str:
    return f"127.0.0.1:{served.port}"


async def publish_split(
    targets: Sequence[str], template: event_pb2.Event, count: int, prefix: str
) -> None:
    """`count` events, split evenly over the servers, streamed to all at once."""
    shares = [count // len(targets) + (n < count % len(targets)) for n in range(len(targets))]
    await asyncio.gather(
        *(
            publish(
                server, TOKEN, template, count=share, per_message=PER_MESSAGE, prefix=f"{prefix}{n}"
            )
            for n, (server, share) in enumerate(zip(targets, shares, strict=True))
        )
    )


async def measure(
    setup: Setup,
    database: str,
    receiver: ReceiverProcess,
    ca: Path,
    *,
    events: int,
    warm: int = WARM_EVENTS,
) -> Run:
    """One setup on `database` (empty): start its replicas, warm them up, measure."""
    template = sample_event(BODY_BYTES)
    flags = delivery_flags(TOKEN, TOKEN, ca)
    async with AsyncExitStack() as servers:
        first = await servers.enter_async_context(serve_process(database, flags))
        secret = await create_channel(target(first), TOKEN, receiver.url, CONCURRENCY)
        replicas = [first]
        for _ in range(setup.replicas - 1):
            replicas.append(await servers.enter_async_context(serve_process(database, flags)))
        targets = [target(served) for served in replicas]
        await receiver.ask("secret", secret=secret)
        await receiver.ask("reset")
        await publish_split(targets, template, warm, "warm")
        await receiver.wait_for(warm, 60 + warm / 20)
        await receiver.ask("reset")
        meter = Meter(
            [served.process.pid for served in replicas],
            [receiver.process.pid, os.getpid()],
            database if setup.postgres else None,
        )
        started = time.monotonic()
        await publish_split(targets, template, events, "run")
        stats = await receiver.wait_for(events, 60 + events / 20)
        cpu = meter.usage()
    return Run(
        setup,
        events,
        seconds=float(stats["last"]) - started,
        cpu=cpu,
        duplicates=stats["duplicates"],
        bad_signatures=stats["rejected"],
    )


@asynccontextmanager
async def fresh_databases(url: str) -> AsyncIterator[PostgresServer]:
    """The server at `url`, with a migrated template to copy databases from, dropped on the
    way out."""
    server = await PostgresServer.prepare(url)
    try:
        yield server
    finally:
        await server.close()


async def postgres_settings(url: str) -> str:
    """The server's version and the settings that decide what a commit costs."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT name, setting FROM pg_settings"
            " WHERE name IN ('server_version', 'fsync', 'synchronous_commit')"
        )
        settings: dict[str, str] = {row["name"]: row["setting"] for row in rows}
    finally:
        await connection.close()
    return (
        f"PostgreSQL {settings['server_version']}, fsync {settings['fsync']},"
        f" synchronous_commit {settings['synchronous_commit']}"
    )


def lines(runs: Sequence[Run]) -> list[str]:
    cores = os.cpu_count()
    rows = [
        f"{'':24}{'webhooks/s':>11}{'CPU s per 1,000 webhooks':>30}{'cores busy':>24}",
        f"{'':24}{'':>11}{'deskhook':>15}{'PostgreSQL':>15}{'machine':>12}{'others':>12}",
    ]
    for run in runs:
        postgres = "-" if run.cpu.postgres is None else f"{run.per_thousand(run.cpu.postgres):.2f}"
        rows.append(
            f"{run.setup.name:24}{run.rate:>11,.0f}{run.per_thousand(run.cpu.deskhook):>15.2f}"
            f"{postgres:>15}{f'{run.cpu.busy / run.seconds:.1f} of {cores}':>12}"
            f"{run.cpu.others / run.seconds:>12.1f}"
        )
    rows.append("one core sustains (1,000 / CPU s per 1,000):")
    for run in runs:
        postgres = ""
        if run.cpu.postgres is not None:
            postgres = f", PostgreSQL's backends {1000 / run.per_thousand(run.cpu.postgres):,.0f}/s"
        rows.append(
            f"  {run.setup.name:24}deskhook {1000 / run.per_thousand(run.cpu.deskhook):,.0f}"
            f" webhooks/s{postgres}"
        )
    rows += [
        f"{run.setup.name}: FAILED, {run.duplicates} duplicates and {run.bad_signatures} bad"
        " signatures"
        for run in runs
        if not run.ok
    ]
    return rows


# Of each setup in turn (SQLite, PostgreSQL with one replica, with two): its rate against the
# setup before it, and deskhook's CPU per 1,000 webhooks; PostgreSQL's backends' CPU.
RATE_TARGETS = (None, 0.75, 1.0)
DESKHOOK_CPU_TARGETS = (0.45, None, None)
POSTGRES_CPU_TARGET = 0.6


def figures(runs: Sequence[Run]) -> list[Figure]:
    """Each setup's rate next to the one before (PostgreSQL against SQLite, then two replicas
    against one), and its CPU per 1,000 deliveries."""
    found: list[Figure] = []
    before: Run | None = None
    for run, rate_target, cpu_target in zip(runs, RATE_TARGETS, DESKHOOK_CPU_TARGETS, strict=False):
        ratio_met = rate_target is None or (
            before is not None and run.rate / before.rate >= rate_target
        )
        deskhook_cpu = run.per_thousand(run.cpu.deskhook)
        found += [
            Figure(
                "replicas",
                f"{run.setup.name}: end to end, {run.events:,} webhooks",
                run.rate,
                "webhooks/s",
                before.setup.name if before else None,
                before.rate if before else None,
                "every event once"
                + (f" and ≥ {rate_target:.0%} of the baseline" if rate_target else ""),
                verdict(run.ok and ratio_met),
            ),
            Figure(
                "replicas",
                f"{run.setup.name}: deskhook CPU per 1,000 webhooks",
                deskhook_cpu,
                "CPU s",
                target=f"≤ {cpu_target:g} CPU s" if cpu_target else None,
                verdict=verdict(deskhook_cpu <= cpu_target) if cpu_target else None,
            ),
        ]
        if run.cpu.postgres is not None:
            postgres_cpu = run.per_thousand(run.cpu.postgres)
            found.append(
                Figure(
                    "replicas",
                    f"{run.setup.name}: PostgreSQL backends' CPU per 1,000 webhooks",
                    postgres_cpu,
                    "CPU s",
                    target=f"≤ {POSTGRES_CPU_TARGET:g} CPU s",
                    verdict=verdict(postgres_cpu <= POSTGRES_CPU_TARGET),
                )
            )
        before = run
    return found


async def main(events: int, warm: int, postgres: str | None, results: Path | None) -> int:
    where = "no PostgreSQL (--postgres or DESKHOOK_TEST_POSTGRES): SQLite only"
    if postgres:
        where = f"{await postgres_settings(postgres)} at {redacted(postgres)}"
    print(
        f"replicas: {events:,} webhooks of {BODY_BYTES:,} bytes per setup after {warm:,} to warm"
        f" up, one channel (concurrency {CONCURRENCY} over all replicas), {os.cpu_count()} cores;"
        f" {where}",
        flush=True,
    )
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        async with receiving(scratch) as (receiver, ca):
            runs.append(
                await measure(
                    SQLITE_ONE, str(scratch / "deskhook.db"), receiver, ca, events=events, warm=warm
                )
            )
            if postgres:
                async with fresh_databases(postgres) as server:
                    for setup in (POSTGRES_ONE, POSTGRES_TWO):
                        database = await server.create_database()
                        try:
                            runs.append(
                                await measure(
                                    setup, database, receiver, ca, events=events, warm=warm
                                )
                            )
                        finally:
                            await server.drop_database(database)
    return conclude(lines(runs), figures(runs), results, all(run.ok for run in runs))


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="webhooks per setup")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(POSTGRES_ENV),
        metavar="URL",
        help=f"a PostgreSQL server whose user may create databases (default: ${POSTGRES_ENV})",
    )
    parser.add_argument("--quick", action="store_true", help="2,000 webhooks, for a smoke test")
    options = parser.parse_args()
    warm = WARM_EVENTS
    if options.quick:
        options.events, warm = 2000, 200
    if not 0 < options.events <= MAX_EVENTS:
        parser.error(f"--events must be in (0, {MAX_EVENTS:,}]")
    sys.exit(uvloop.run(main(options.events, warm, options.postgres, options.results)))
