"""scripts/bench_floor.py, short: every step a webhook requires is measured, the sending
process of the other design sends every request it is handed (the receiver verifies each
signature), and the floor is the steps' sum."""

import os
from pathlib import Path

import pytest
from bench_floor import run
from benchkit.figures import read_figures

STEPS = (
    "check the published event",
    "store it with its delivery",
    "claim it, record its attempt",
    "render its body and sign it",
    "decide, log the attempt",
    "send it over HTTPS (aiohttp)",
)


async def test_each_step_is_measured_and_the_floor_is_their_sum(tmp_path: Path) -> None:
    results = tmp_path / "floor.json"
    with open(os.devnull, "w") as sink:  # noqa: ASYNC230 - /dev/null does not block
        assert await run(200, results, sink) == 0
    figures = {figure.name: figure.value for figure in read_figures(results)}
    assert all(figures[step] > 0 for step in STEPS)
    floor = figures["the steps together: the least CPU per webhook"]
    assert floor == pytest.approx(sum(figures[step] for step in STEPS))
    handed = figures["with a sending process: the server's hand-over"]
    assert figures["with a sending process: the sender"] > 0
    assert figures["with a sending process: the server's floor"] == pytest.approx(
        floor - figures["send it over HTTPS (aiohttp)"] + handed
    )
    # Measured apart from the steps: none of them.
    assert 0 < figures["tracing off: what its hooks cost"] < floor
