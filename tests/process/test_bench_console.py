"""The console's benchmark (scripts/bench_console.py), short: the log page loads, and every
attempt made while the live view is open shows up in the browser. No timing is asserted: the
full run measures it."""

from pathlib import Path

from bench_console import Options, measure


async def test_the_log_page_loads_and_the_live_view_shows_every_attempt(tmp_path: Path) -> None:
    run = await measure(tmp_path, Options(entries=300, loads=5, rate=50, seconds=2))
    assert (len(run.full), len(run.small)) == (5, 5)
    assert run.attempts == 100
    assert (run.rows, run.skipped) == (run.attempts, 0)
    assert run.ok
    assert [figure.benchmark for figure in run.figures()] == ["console", "console"]
