"""The crash loop of scripts/crash_loop.py, short: three SIGKILLs at random moments while events
stream in and webhooks go out. Nothing acked is lost, repeats keep their webhook-id, and the log
holds every attempt the receiver saw."""

from pathlib import Path

from crash_loop import run


async def test_three_kills_lose_nothing(tmp_path: Path, database: str) -> None:
    report = await run(tmp_path, kills=3, rate=100, seed=7, database=database)
    assert report.kills == 3
    assert report.acked
    assert report.lost == set()
    assert report.split_ids == 0
    assert report.seen_attempts == report.logged
    assert report.ok
