#!/usr/bin/env python3
"""Load with faults: events stream at a steady rate to 10 channels, each on its own department
and its own path of an HTTPS receiver, in runs of two kinds, each on a fresh server and
database:

A. every channel healthy;
B. the same load with 2 channels failing: one answers 500 at once, the other holds every
   request past the server's 15 s attempt timeout.

For the 8 channels healthy in both it sets the B runs against the A runs: deliveries/s, and the
latency from the producer's ack to the webhook's arrival (p50, p99). Target: within 10%.

An A run and a B run go side by side, at the same time, each with its own server, receiver and
producer, in --rounds rounds (3 by default). A p99 is the slowest 1% of a run's events, and a
few stalls of the whole machine decide it: on a virtual machine the host takes the CPUs away
now and then (steal time), every process on the guest stalls at once, and the events then in
flight arrive late. Runs one after the other would each meet the host's stalls of their own
moment, and their p99s would compare those. Side by side, each stall hits both kinds alike,
and what differs is the faults. Each round is printed with the share of CPU time the host took
during it.

    .venv/bin/python scripts/bench_faults.py [--rate 200] [--seconds 20] [--rounds 3]
        [--quick] [--results FILE]

The servers run in their own processes (`deskhook serve`); the producers and the receivers (the
tests' HTTPS receiver) share this one, so ack and arrival times come from one monotonic clock.
Every signature is checked after the run, against each channel's own secret, off the measured
path. Each run stops by itself: publishing lasts --seconds, the wait for the last deliveries is
bounded, and the receiver stops before the server, which lets go of the requests it holds.
"""

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvloop
from standardwebhooks import Webhook, WebhookVerificationError

from deskhook.client import open_channel
from deskhook.delivery.http_client import HttpLimits
from deskhook.v1 import channel_admin_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' receiver, events, channels and server runner
from benchkit.figures import Figure, bench_parser, conclude, percentile, verdict  # noqa: E402
from benchkit.load import gc_paused, publish_paced  # noqa: E402
from benchkit.proc import cpu_stolen  # noqa: E402

from tests.support.channels import add_channel  # noqa: E402
from tests.support.events import make_event  # noqa: E402
from tests.support.receiver import Answer, ReceivedRequest, Receiver  # noqa: E402
from tests.support.serve_process import delivery_flags, serve_process  # noqa: E402

TOKEN = "bench-token"
CHANNELS = 10
DEPARTMENT_BASE = 100
# Past the server's attempt timeout, so the server gives up first; bounded all the same.
HANG_SECONDS = HttpLimits().total_timeout + 5
# Channel number -> how its path answers in the B runs.
FAILING = {8: Answer(status=500), 9: Answer(delay=HANG_SECONDS)}
HEALTHY = [n for n in range(CHANNELS) if n not in FAILING]
# Events sent before the measured stream, while every channel is healthy: connections open.
WARM_EVENTS = 10 * CHANNELS
# How long the deliveries may trail the last event before the run gives up on them.
SETTLE_SECONDS = 60.0
# Signatures are checked after the run and standardwebhooks refuses those 5 minutes old.
MAX_SECONDS = 120.0
MAX_RATE = 2000.0
MAX_ROUNDS = 5
TARGET_RATE_RATIO = 0.9
TARGET_LATENCY_RATIO = 1.1
# Event n goes to channel n % CHANNELS: its ticket is in that channel's department.
TEMPLATES = [make_event("template", department_id=DEPARTMENT_BASE + n) for n in range(CHANNELS)]


def path_of(channel: int) -> str:
    return f"/ch-{channel}"


def channel_of(event_id: str) -> int:
    return int(event_id.rsplit("-", 1)[1]) % CHANNELS


@dataclass(frozen=True)
class Run:
    """What one run delivered to the channels healthy in both runs."""

    expected: int  # their events acked
    delivered: int  # of those, how many arrived
    latencies: list[float]  # ack -> arrival, seconds
    rate: float  # their deliveries per second, from the first event sent to the last arrival
    duplicates: int
    bad_signatures: int
    failing_requests: Counter[str]  # requests to the failing channels' paths

    @property
    def ok(self) -> bool:
        return self.delivered == self.expected and not self.bad_signatures

    def latency_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000

    @classmethod
    def pooled(cls, runs: Sequence["Run"]) -> "Run":
        """Several runs of one kind as one: counts and latencies together, the mean rate."""
        return cls(
            expected=sum(run.expected for run in runs),
            delivered=sum(run.delivered for run in runs),
            latencies=[latency for run in runs for latency in run.latencies],
            rate=sum(run.rate for run in runs) / len(runs),
            duplicates=sum(run.duplicates for run in runs),
            bad_signatures=sum(run.bad_signatures for run in runs),
            failing_requests=sum((run.failing_requests for run in runs), Counter()),
        )


async def create_channels(target: str, receiver: Receiver) -> dict[str, Webhook]:
    """The channels, one per department and path; a verifier with each one's secret, by path."""
    verifiers: dict[str, Webhook] = {}
    async with open_channel(target, TOKEN) as channel:
        admin = channel_admin_pb2_grpc.ChannelAdminStub(channel)
        for n in range(CHANNELS):
            _, secret = await add_channel(
                admin,
                receiver,
                path_of(n),
                name=f"faults-{n}",
                department_id=DEPARTMENT_BASE + n,
            )
            verifiers[path_of(n)] = Webhook(secret)
    return verifiers


async def wait_for_healthy(receiver: Receiver, start: int, expected: int) -> None:
    """Until the healthy paths have had `expected` requests since `start`, or SETTLE_SECONDS."""
    paths = {path_of(n) for n in HEALTHY}
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if sum(request.path in paths for request in receiver.requests[start:]) >= expected:
            return
        await asyncio.sleep(0.1)


def healthy_events(event_ids: Iterable[str]) -> int:
    return sum(channel_of(event_id) in HEALTHY for event_id in event_ids)


def tally(
    requests: Sequence[ReceivedRequest],
    verifiers: dict[str, Webhook],
    sent: dict[str, float],
    acked: dict[str, float],
) -> Run:
    arrivals: dict[str, float] = {}
    duplicates = bad_signatures = 0
    failing_requests: Counter[str] = Counter()
    healthy = {path_of(n) for n in HEALTHY}
    for request in requests:
        if request.path not in healthy:
            failing_requests[request.path] += 1
            continue
        try:
            payload = verifiers[request.path].verify(request.body, dict(request.headers))
        except WebhookVerificationError:
            bad_signatures += 1
            continue
        if payload["event_id"] in arrivals:
            duplicates += 1
        else:
            arrivals[payload["event_id"]] = request.arrived_at
    latencies = [
        arrived - acked[event_id] for event_id, arrived in arrivals.items() if event_id in acked
    ]
    seconds = max(arrivals.values(), default=0.0) - min(sent.values())
    return Run(
        expected=healthy_events(acked),
        delivered=len(arrivals),
        latencies=latencies,
        rate=len(arrivals) / seconds if seconds > 0 else 0.0,
        duplicates=duplicates,
        bad_signatures=bad_signatures,
        failing_requests=failing_requests,
    )


async def measure(
    scratch: Path,
    name: str,
    *,
    faults: bool,
    rate: float,
    seconds: float,
    together: asyncio.Barrier | None = None,
) -> Run:
    """One run on a fresh server and database; `faults` makes FAILING fail once warm. With
    `together`, the measured stream starts when the other runs sharing it are warm too. The
    caller pauses garbage collection (`gc_paused`) for the whole of the runs it times."""
    async with Receiver() as receiver:
        args = delivery_flags(TOKEN, TOKEN, receiver.write_ca(scratch / f"{name}-ca.pem"))
        async with serve_process(str(scratch / f"{name}.db"), args) as served:
            target = f"127.0.0.1:{served.port}"
            verifiers = await create_channels(target, receiver)
            await publish_paced(
                target, TOKEN, TEMPLATES, count=WARM_EVENTS, rate=rate, prefix=f"{name}-warm"
            )
            # Each channel's connection test, then the warm events.
            await receiver.wait_for_requests(CHANNELS + WARM_EVENTS)
            if faults:
                for n, answer in FAILING.items():
                    receiver.respond_at(path_of(n), answer)
            if together is not None:
                await together.wait()
            start = len(receiver.requests)
            sent, acked = await publish_paced(
                target, TOKEN, TEMPLATES, count=int(rate * seconds), rate=rate, prefix=name
            )
            await wait_for_healthy(receiver, start, healthy_events(acked))
            # Stopping cancels the requests the receiver still holds: their attempts end, so
            # the server does not spend its shutdown grace waiting for them.
            await receiver.stop()
    return tally(receiver.requests[start:], verifiers, sent, acked)


def stolen_percent(share: float | None) -> str:
    return "unknown" if share is None else f"{share:.0%}"


@dataclass(frozen=True)
class Round:
    """An A run and a B run, side by side, and the share of CPU time the host took meanwhile."""

    healthy: Run
    faulty: Run
    stolen: float | None


@dataclass(frozen=True)
class Comparison:
    rate: float
    seconds: float
    rounds: list[Round]

    @property
    def healthy(self) -> Run:
        """The A runs, pooled."""
        return Run.pooled([round_.healthy for round_ in self.rounds])

    @property
    def faulty(self) -> Run:
        """The B runs, pooled."""
        return Run.pooled([round_.faulty for round_ in self.rounds])

    @property
    def stolen(self) -> float | None:
        """The mean share of CPU time the host took over the rounds."""
        shares = [round_.stolen for round_ in self.rounds if round_.stolen is not None]
        return sum(shares) / len(shares) if shares else None

    @property
    def ok(self) -> bool:
        return self.healthy.ok and self.faulty.ok

    def figures(self) -> list[Figure]:
        a, b = self.healthy, self.faulty
        failing = f"{len(FAILING)} of {CHANNELS} channels failing"
        baseline = f"all {CHANNELS} healthy"
        rate_target = f"≥ {TARGET_RATE_RATIO:.0%} of the baseline"
        latency_target = f"≤ {TARGET_LATENCY_RATIO:.0%} of the baseline"

        def latency(label: str, fraction: float) -> Figure:
            value, base = b.latency_ms(fraction), a.latency_ms(fraction)
            return Figure(
                "faults",
                f"ack → arrival {label}, {len(HEALTHY)} healthy channels, {failing}",
                value,
                "ms",
                baseline,
                base,
                latency_target,
                verdict(value <= TARGET_LATENCY_RATIO * base),
            )

        share = self.stolen
        stolen = (
            []
            if share is None
            else [Figure("faults", "CPU time the host took (steal) meanwhile", share * 100, "%")]
        )
        return [
            Figure(
                "faults",
                f"deliveries to {len(HEALTHY)} healthy channels, {self.rate:g} events/s for"
                f" {self.seconds:g} s, {len(self.rounds)} rounds, {failing}",
                b.rate,
                "webhooks/s",
                baseline,
                a.rate,
                rate_target,
                verdict(b.rate >= TARGET_RATE_RATIO * a.rate),
            ),
            latency("p50", 0.5),
            latency("p99", 0.99),
            *stolen,
        ]

    def lines(self) -> list[str]:
        rate, p50, p99, *_ = self.figures()
        rows = [
            f"{'':38}{'A: all healthy':>16}{f'B: {len(FAILING)} failing':>16}{'B / A':>8}   target"
        ]
        for label, unit, figure in (
            (f"deliveries to the {len(HEALTHY)} healthy channels", "/s", rate),
            ("ack -> arrival p50", "ms", p50),
            ("ack -> arrival p99", "ms", p99),
        ):
            rows.append(
                f"{label:38}{figure.baseline_value or 0:>13.1f} {unit}{figure.value:>13.1f} {unit}"
                f"{figure.ratio or 0:>8.0%}   {figure.target}: {figure.verdict}"
            )
        failing = ", ".join(
            f"{path_of(n)} {self.faulty.failing_requests[path_of(n)]:,}" for n in sorted(FAILING)
        )
        rows.append(f"requests to the failing channels in the B runs: {failing}")
        for number, round_ in enumerate(self.rounds, 1):
            a, b = round_.healthy, round_.faulty
            rows.append(
                f"round {number}: ack -> arrival p50 / p99 A {a.latency_ms(0.5):.1f} /"
                f" {a.latency_ms(0.99):.1f} ms, B {b.latency_ms(0.5):.1f} /"
                f" {b.latency_ms(0.99):.1f} ms; the host took {stolen_percent(round_.stolen)} of"
                " the CPU"
            )
        for name, run in (("A", self.healthy), ("B", self.faulty)):
            rows.append(
                f"{name} runs: {run.delivered:,} of {run.expected:,} events delivered to the"
                f" healthy channels, {run.duplicates} duplicates,"
                f" {run.bad_signatures} bad signatures"
            )
        rows.append("verdict: " + ("ok" if self.ok else "FAILED: events missing or forged"))
        return rows


async def side_by_side(scratch: Path, number: int, *, rate: float, seconds: float) -> Round:
    together = asyncio.Barrier(2)
    # The producers' sends fall due at the same moments, and the first started sends first:
    # the rounds take turns.
    kinds = (False, True) if number % 2 == 0 else (True, False)
    with gc_paused(), cpu_stolen() as stolen:
        async with asyncio.TaskGroup() as runs:
            started = {
                faults: runs.create_task(
                    measure(
                        scratch,
                        f"{'b' if faults else 'a'}{number}",
                        faults=faults,
                        rate=rate,
                        seconds=seconds,
                        together=together,
                    )
                )
                for faults in kinds
            }
    return Round(started[False].result(), started[True].result(), stolen.share)


async def compare(scratch: Path, *, rate: float, seconds: float, rounds: int) -> Comparison:
    return Comparison(
        rate,
        seconds,
        [await side_by_side(scratch, n, rate=rate, seconds=seconds) for n in range(rounds)],
    )


async def main(rate: float, seconds: float, rounds: int, results: Path | None) -> int:
    print(
        f"load with faults: {CHANNELS} channels, {rate:g} events/s spread over them for"
        f" {seconds:g} s, an A run and a B run side by side, {rounds} round"
        f"{'s' if rounds > 1 else ''}, {os.cpu_count()} cores; in the B runs channel 8"
        f" answers 500 and channel 9 holds each request {HANG_SECONDS:g} s (the server gives"
        f" up after {HttpLimits().total_timeout:g} s)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as scratch:
        comparison = await compare(Path(scratch), rate=rate, seconds=seconds, rounds=rounds)
    return conclude(comparison.lines(), comparison.figures(), results, comparison.ok)


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("--rate", type=float, default=200, help="events per second, all channels")
    parser.add_argument("--seconds", type=float, default=20, help="length of each run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="how many times to run A and B side by side (1-5)"
    )
    parser.add_argument("--quick", action="store_true", help="one round of 5 s, a smoke test")
    options = parser.parse_args()
    if options.quick:
        options.seconds, options.rounds = 5, 1
    if not (0 < options.rate <= MAX_RATE and 0 < options.seconds <= MAX_SECONDS):
        parser.error(f"--rate must be in (0, {MAX_RATE:g}] and --seconds in (0, {MAX_SECONDS:g}]")
    if not 1 <= options.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be from 1 to {MAX_ROUNDS}")
    if options.rate * options.seconds < CHANNELS:
        parser.error(f"--rate times --seconds must give each of the {CHANNELS} channels an event")
    sys.exit(uvloop.run(main(options.rate, options.seconds, options.rounds, options.results)))
