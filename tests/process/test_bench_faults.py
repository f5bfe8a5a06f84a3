"""The faulty run of scripts/bench_faults.py, short: while one channel answers 500 and another
holds its requests, the 8 healthy channels get every event, signed with their own secrets, and
the run ends by itself."""

from pathlib import Path

from bench_faults import FAILING, HEALTHY, measure, path_of


async def test_healthy_channels_get_every_event_while_two_fail(tmp_path: Path) -> None:
    run = await measure(tmp_path, "b", faults=True, rate=100, seconds=2)
    assert run.expected == len(HEALTHY) * 20
    assert run.delivered == run.expected
    assert run.bad_signatures == 0
    assert len(run.latencies) == run.delivered
    assert all(run.failing_requests[path_of(n)] > 0 for n in FAILING)
