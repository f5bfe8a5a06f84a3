#!/usr/bin/env python3
"""The benchmark report, from the figures the benchmarks wrote with `--results`:

- benchmarks.md: one table row per figure, next to the baseline measured in the same run, with
  the ratio, the target and the verdict; the date, the machine and the command that made it;
- benchmarks.png: throughput and latency, each bar next to its baseline (log scales).

    .venv/bin/python scripts/bench_report.py --command "scripts/bench" [--output docs]
        [--cpu-at-start FILE] RESULTS.json...

With --cpu-at-start, a copy of /proc/stat made when the benchmarks began, the report also says
how much of the CPU time since then the virtual machine's host took (steal).

`scripts/bench` runs every benchmark, then this.
"""

import argparse
import math
import os
import platform
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchkit.figures import Figure, read_figures
from benchkit.proc import cpu_times, stolen_share
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as Chart
from matplotlib.patches import Patch

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("benchmark", "figure", "value", "in-run baseline", "ratio", "target", "verdict")
BASELINE_COLOUR, VALUE_COLOUR = "#b0b0b0", "#2f6db5"


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine() -> str:
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()},"
        f" {platform.system()} {platform.release()}"
    )


def quantity(value: float, unit: str) -> str:
    if unit == "count":
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    # Below 1 (CPU seconds per 1,000 webhooks), one decimal would hide most of the figure.
    return f"{value:.2f} {unit}" if abs(value) < 1 else f"{value:.1f} {unit}"


def percent(ratio: float) -> str:
    # Below 1%, a whole percent would say 0% of a cost that was measured.
    return f"{ratio:.2%}" if abs(ratio) < 0.01 else f"{ratio:.0%}"


def cells(figure: Figure) -> list[str]:
    baseline = ""
    if figure.baseline_name is not None and figure.baseline_value is not None:
        baseline = f"{figure.baseline_name}: {quantity(figure.baseline_value, figure.unit)}"
    ratio = "" if figure.ratio is None else percent(figure.ratio)
    verdict = figure.verdict or ""
    if verdict and verdict != "meets":
        verdict = f"**{verdict}**"
    return [
        figure.benchmark,
        figure.name,
        quantity(figure.value, figure.unit),
        baseline,
        ratio,
        figure.target or "",
        verdict,
    ]


def table(figures: Sequence[Figure]) -> list[str]:
    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(value.replace("|", "\\|") for value in values) + " |"

    return [line(COLUMNS), "|" + "---|" * len(COLUMNS), *(line(cells(f)) for f in figures)]


def steal_note(stolen: float | None) -> list[str]:
    if stolen is None:
        return []
    return [
        "",
        f"Over the run, the virtual machine's host took {stolen:.0%} of the CPU time (steal, from"
        " `/proc/stat`). The host's stalls stop every process at once; where it took more than a"
        " few percent, the latency tails measure the host more than deskhook.",
    ]


def markdown(
    figures: Sequence[Figure], command: str, when: datetime, chart: str, stolen: float | None
) -> str:
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"Measured {when:%Y-%m-%d %H:%M} UTC on {machine()}, by `{command}` run from the"
            " root of the repository. Each figure stands next to the baseline measured in the"
            " same run; the ratio is the figure over its baseline. `scripts/bench` runs"
            " `scripts/bench_ingest.py`, `scripts/bench_delivery.py`, `scripts/bench_floor.py`,"
            " `scripts/bench_faults.py`,"
            " `scripts/crash_loop.py`, `scripts/bench_replicas.py`,"
            " `scripts/bench_neighbours.py` (twice: on one server, then with `--isolated`) and"
            " `scripts/bench_console.py`; each one's docstring says how it measures.",
            *steal_note(stolen),
            "",
            *table(figures),
            "",
            f"![Throughput and latency, each next to its in-run baseline]({chart})",
            "",
        ]
    )


def bars(axes: Axes, figures: Sequence[Figure], title: str) -> None:
    """Horizontal bars, top down: each figure's value, its baseline just above it."""
    axes.set_title(title)
    if not figures:
        axes.text(0.5, 0.5, "no figures", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return
    rows = range(len(figures))
    # A figure without a baseline gets no bar there (NaN draws nothing, even on a log scale).
    baselines = [f.baseline_value or math.nan for f in figures]
    for offset, colour, label, values in (
        (-0.2, BASELINE_COLOUR, "in-run baseline", baselines),
        (0.2, VALUE_COLOUR, "figure", [f.value for f in figures]),
    ):
        drawn = axes.barh([row + offset for row in rows], values, 0.4, color=colour, label=label)
        axes.bar_label(
            drawn,
            labels=[
                "" if math.isnan(value) else quantity(value, f.unit)
                for value, f in zip(values, figures, strict=True)
            ],
            padding=3,
            fontsize=8,
        )
    axes.set_yticks(
        list(rows), [textwrap.fill(f"{f.benchmark}: {f.name}", 36) for f in figures], fontsize=8
    )
    axes.invert_yaxis()
    axes.set_xscale("log")
    drawn_values = [v for v in (*baselines, *(f.value for f in figures)) if v > 0]
    # Room on the right for the labels of the longest bars.
    axes.set_xlim(min(drawn_values, default=1) / 3, max(drawn_values, default=1) * 20)


def chart(figures: Sequence[Figure], path: Path) -> None:
    throughput = [f for f in figures if f.unit.endswith("/s")]
    latency = [f for f in figures if f.unit == "ms"]
    drawing = Chart(
        figsize=(14, 1.5 + 0.8 * max(len(throughput), len(latency), 1)), layout="constrained"
    )
    FigureCanvasAgg(drawing)
    left, right = drawing.subplots(1, 2)
    bars(left, throughput, "Throughput, per second")
    bars(right, latency, "Latency, ms")
    drawing.legend(
        handles=[Patch(color=BASELINE_COLOUR), Patch(color=VALUE_COLOUR)],
        labels=["in-run baseline", "figure"],
        loc="outside upper center",
        ncols=2,
    )
    drawing.savefig(path, dpi=100)


def write_report(
    results: Sequence[Path], output: Path, command: str, stolen: float | None = None
) -> tuple[Path, Path]:
    """benchmarks.md and benchmarks.png in `output`, from the figures in `results`; `stolen`
    is the share of the CPU time the host took over the run, if known."""
    figures = [figure for path in results for figure in read_figures(path)]
    output.mkdir(parents=True, exist_ok=True)
    report, picture = output / "benchmarks.md", output / "benchmarks.png"
    report.write_text(markdown(figures, command, datetime.now(UTC), picture.name, stolen))
    chart(figures, picture)
    return report, picture


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, nargs="+", metavar="RESULTS.json")
    parser.add_argument("--command", required=True, help="the command the figures came from")
    parser.add_argument("--output", type=Path, default=ROOT / "docs", metavar="DIR")
    parser.add_argument(
        "--cpu-at-start", type=Path, metavar="FILE", help="a copy of /proc/stat from the start"
    )
    options = parser.parse_args()
    stolen = None
    if options.cpu_at_start is not None:
        stolen = stolen_share(cpu_times(options.cpu_at_start), cpu_times())
    for written in write_report(options.results, options.output, options.command, stolen):
        print(f"wrote {written}", file=sys.stderr)


if __name__ == "__main__":
    main()
