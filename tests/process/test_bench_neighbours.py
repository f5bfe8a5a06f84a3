"""The noisy-neighbour run of scripts/bench_neighbours.py, short: account b's events all arrive,
once and signed, alone and beside account a's backlog on its own channels (on one server, or
each account on a server of its own), and the run ends by itself. No timing is asserted: the
full run measures it."""

from pathlib import Path

import pytest
from bench_neighbours import Options, measure


@pytest.mark.parametrize("isolated", [False, True], ids=["one server", "a server each"])
async def test_b_gets_every_event_alone_and_beside_a_backlog(
    tmp_path: Path, isolated: bool
) -> None:
    run = await measure(tmp_path, Options(2_000, 5, rate=50, seconds=2, isolated=isolated))
    for phase in (run.alone, run.beside):
        assert phase.acked == phase.delivered == 100
        assert len(phase.latencies) == phase.delivered
    assert (run.duplicates, run.bad_signatures) == (0, 0)
    assert run.ok
    assert len({figure.benchmark for figure in run.figures()}) == 1
    assert len(run.figures()) == 5
