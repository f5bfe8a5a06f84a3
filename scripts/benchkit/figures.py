"""What the benchmarks make of their readings: latency spreads, verdicts against targets, and
the figures each writes with `--results` for scripts/bench_report.py."""

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def spread(values: list[float]) -> str:
    """p50 / p99 / max in milliseconds."""
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    return f"p50 {p50:7.1f}  p99 {p99:7.1f}  max {max(values) * 1000:7.1f} ms"


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


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


def conclude(
    lines: Sequence[str], figures: Sequence[Figure], results: Path | None, ok: bool
) -> int:
    """Print a run's summary, write its figures where `--results` asks; the exit status."""
    print("\n".join(f"  {line}" for line in lines))
    if results is not None:
        write_figures(results, figures)
    return 0 if ok else 1


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as the help, and `--results FILE`."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--results", type=Path, metavar="FILE", help="also write the figures to FILE as JSON"
    )
    return parser
