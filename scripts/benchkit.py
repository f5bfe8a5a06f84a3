"""What the benchmarks in scripts/ share: memory and latency readings, paced publishing, and the
figures each writes with `--results` for scripts/bench_report.py."""

import asyncio
import gc
import json
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from deskhook.client import open_channel
from deskhook.v1 import event_ingest_pb2 as pb
from deskhook.v1 import event_ingest_pb2_grpc, event_pb2


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def spread(values: list[float]) -> str:
    """p50 / p99 / max in milliseconds."""
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    return f"p50 {p50:7.1f}  p99 {p99:7.1f}  max {max(values) * 1000:7.1f} ms"


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


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


PROC_STAT = Path("/proc/stat")


@dataclass
class StolenCpu:
    """The share of the machine's CPU time that its hypervisor gave to other guests (steal)
    over a `with cpu_stolen()` block; None where /proc/stat does not tell."""

    share: float | None = None


def cpu_times(stat: Path = PROC_STAT) -> list[int] | None:
    """user, nice, system, idle, iowait, irq, softirq, steal: the machine's CPU time until
    `stat` (/proc/stat, or a copy of it) was read; None where it does not tell."""
    try:
        fields = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    return [int(value) for value in fields[1:9]] if len(fields) >= 9 else None


def stolen_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of the CPU time between two `cpu_times` readings that the host took."""
    if before is None or after is None:
        return None
    total = sum(after) - sum(before)
    return (after[7] - before[7]) / total if total > 0 else 0.0


@contextmanager
def cpu_stolen() -> Iterator[StolenCpu]:
    """On a virtual machine, the host may take the CPUs away for milliseconds at a time: every
    process on the guest stalls at once, and the latency tail measures the host. Read it
    beside the figures to tell a run the host disturbed."""
    reading = StolenCpu()
    before = cpu_times()
    try:
        yield reading
    finally:
        reading.share = stolen_share(before, cpu_times())


@dataclass(frozen=True)
class Figure:
    """One figure of a benchmark run, next to the baseline measured in the same run when there
    is one. `target` says what the figure should reach; `verdict` whether it did."""

    benchmark: str
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    target: str | None = None
    verdict: str | None = None

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value


def write_figures(path: Path, figures: Sequence[Figure]) -> None:
    path.write_text(json.dumps([asdict(figure) for figure in figures], indent=2) + "\n")


def read_figures(path: Path) -> list[Figure]:
    return [Figure(**fields) for fields in json.loads(path.read_text())]


def start_process(args: list[str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server whose log goes to `log` (a pipe left unread would stall it)."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            args,
            stderr=sink,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DESKHOOK_LOG_FORMAT": "json"},
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        for line in log.read_text().splitlines():
            if '"listening"' in line:
                return process, int(json.loads(line)["port"])
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"server did not start: {args}\n{log.read_text()}")
