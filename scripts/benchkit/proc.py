"""What /proc tells about the processes a benchmark runs and the machine under them: peak
memory, CPU time by process and thread, and the CPU time the host took (steal)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU of a process, every thread included, or of one of its threads (the
    main thread's id is the process id)."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_times(stat: Path = PROC_STAT) -> list[int] | None:
    """user, nice, system, idle, iowait, irq, softirq, steal: the machine's CPU time until
    `stat` (/proc/stat, or a copy of it) was read; None where it does not tell."""
    try:
        fields = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    return [int(value) for value in fields[1:9]] if len(fields) >= 9 else None


def busy_seconds() -> float:
    """CPU time the whole machine spent busy, over every core."""
    if (times := cpu_times()) is None:
        raise SystemExit(f"{PROC_STAT} does not tell the machine's CPU time")
    user, nice, system, _idle, _iowait, irq, softirq, steal = times
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class CpuMeter:
    """The CPU each named process used over a phase, and what the rest of the machine used:
    the machine is shared, and a busy neighbour shows up as `other`. The server's main thread
    (its event loop) is shown apart from its other threads."""

    def __init__(self, **pids: int) -> None:
        self._pids = pids
        self._start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self._loop = cpu_seconds(pids["server"], pids["server"]) if "server" in pids else 0.0
        self._busy = busy_seconds()

    def used(self, name: str) -> float:
        """The CPU seconds the process `name` used so far."""
        return cpu_seconds(self._pids[name]) - self._start[name]

    def report(self, seconds: float) -> str:
        used = {name: self.used(name) for name in self._pids}
        shares = {name: f"{cpu / seconds:.0%}" for name, cpu in used.items()}
        if "server" in self._pids:
            loop = cpu_seconds(self._pids["server"], self._pids["server"]) - self._loop
            shares["server"] += f" (main thread {loop / seconds:.0%})"
        other = max(busy_seconds() - self._busy - sum(used.values()), 0.0)
        shares["other"] = f"{other / seconds:.0%}"
        return "CPU " + ", ".join(f"{name} {share}" for name, share in shares.items())


@dataclass
class StolenCpu:
    """The share of the machine's CPU time that its hypervisor gave to other guests (steal)
    over a `with cpu_stolen()` block; None where /proc/stat does not tell."""

    share: float | None = None


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
