"""scripts/bench_report.py turns the figures the benchmarks write with --results into the
Markdown table and the PNG chart, without running a benchmark."""

import os
import platform
from pathlib import Path

from bench_report import percent, quantity, write_report
from benchkit.figures import Figure, read_figures, write_figures
from benchkit.proc import cpu_times, stolen_share

INGEST = [
    Figure(
        "ingest",
        "deskhook, durable",
        12_847.2,
        "events/s",
        "bare grpc.aio stream",
        93_294.0,
        "≥ 10,000 events/s",
        "meets",
    ),
    Figure("ingest", "server peak RSS", 81.0, "MiB", "after 55,000 events", 80.0),
]
FAULTS = [
    Figure(
        "faults",
        "ack → arrival p99",
        5.5,
        "ms",
        "all 10 healthy",
        5.0,
        "≤ 110% of the baseline",
        "MISSES",
    ),
    Figure("crash loop", "acked events lost", 0, "count", target="0", verdict="meets"),
]


def write_results(directory: Path) -> list[Path]:
    paths = [directory / "ingest.json", directory / "faults.json"]
    for path, figures in zip(paths, (INGEST, FAULTS), strict=True):
        write_figures(path, figures)
    return paths


def test_figures_survive_the_json_round_trip(tmp_path: Path) -> None:
    write_figures(tmp_path / "figures.json", INGEST + FAULTS)
    assert read_figures(tmp_path / "figures.json") == INGEST + FAULTS


def test_the_table_holds_each_figure_next_to_its_baseline(tmp_path: Path) -> None:
    report, _ = write_report(write_results(tmp_path), tmp_path / "docs", "scripts/bench --quick")
    rows = [line for line in report.read_text().splitlines() if line.startswith("|")]
    assert rows == [
        "| benchmark | figure | value | in-run baseline | ratio | target | verdict |",
        "|---|---|---|---|---|---|---|",
        "| ingest | deskhook, durable | 12,847 events/s | bare grpc.aio stream: 93,294 events/s"
        " | 14% | ≥ 10,000 events/s | meets |",
        "| ingest | server peak RSS | 81.0 MiB | after 55,000 events: 80.0 MiB | 101% |  |  |",
        "| faults | ack → arrival p99 | 5.5 ms | all 10 healthy: 5.0 ms | 110% |"
        " ≤ 110% of the baseline | **MISSES** |",
        "| crash loop | acked events lost | 0 |  |  | 0 | meets |",
    ]


def test_ratios_below_one_percent_keep_two_decimals() -> None:
    assert percent(0.0032) == "0.32%"
    assert percent(0.14) == "14%"


def test_figures_below_one_keep_two_decimals() -> None:
    assert quantity(0.694, "CPU s") == "0.69 CPU s"
    assert quantity(5.46, "ms") == "5.5 ms"
    assert quantity(1304.2, "webhooks/s") == "1,304 webhooks/s"


def test_the_report_names_the_machine_the_command_and_the_chart(tmp_path: Path) -> None:
    report, _ = write_report(write_results(tmp_path), tmp_path / "docs", "scripts/bench --quick")
    text = report.read_text()
    assert f"{os.cpu_count()} cores" in text
    assert f"Python {platform.python_version()}" in text
    assert "by `scripts/bench --quick`" in text
    assert "](benchmarks.png)" in text


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    _, picture = write_report(write_results(tmp_path), tmp_path / "docs", "scripts/bench")
    assert picture == tmp_path / "docs" / "benchmarks.png"
    assert picture.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_report_says_how_much_cpu_time_the_host_took(tmp_path: Path) -> None:
    results = write_results(tmp_path)
    report, _ = write_report(results, tmp_path / "with", "scripts/bench", stolen=0.123)
    assert "the virtual machine's host took 12% of the CPU time" in report.read_text()
    report, _ = write_report(results, tmp_path / "without", "scripts/bench")
    assert "host took" not in report.read_text()


def test_the_steal_share_comes_from_two_copies_of_proc_stat(tmp_path: Path) -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice
    before, after = tmp_path / "before", tmp_path / "after"
    before.write_text("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 18 0 0\n")
    after.write_text("cpu  160 0 70 900 10 0 10 60 0 0\ncpu0 80 0 35 450 5 0 5 30 0 0\n")
    # 60 + 20 + 100 + 5 + 25 = 210 ticks, of which the host took 25.
    assert stolen_share(cpu_times(before), cpu_times(after)) == 25 / 210
    assert stolen_share(cpu_times(before), cpu_times(tmp_path / "missing")) is None
