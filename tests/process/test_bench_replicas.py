"""The two-replica run of scripts/bench_replicas.py, short: two replicas on one PostgreSQL
database deliver every event once, signed, and the CPU of both replicas and of the database's
backends is measured."""

from pathlib import Path
from urllib.parse import urlsplit

from bench_replicas import POSTGRES_TWO, measure
from benchkit.receiver import receiving

EVENTS = 300


async def test_two_replicas_deliver_every_event_once_and_their_cpu_is_measured(
    tmp_path: Path, postgres_database: str
) -> None:
    async with receiving(tmp_path) as (receiver, ca):
        run = await measure(POSTGRES_TWO, postgres_database, receiver, ca, events=EVENTS, warm=50)
    assert (run.events, run.duplicates, run.bad_signatures) == (EVENTS, 0, 0)
    assert run.rate > 0
    assert run.cpu.deskhook > 0
    # The backends are found by their process titles: only a server on this machine shows them.
    if urlsplit(postgres_database).hostname in {"127.0.0.1", "localhost", "::1"}:
        assert run.cpu.postgres is not None
        assert run.cpu.postgres > 0
