"""The command line's durations and points in time."""

from argparse import ArgumentTypeError
from datetime import UTC, datetime, timedelta, timezone

import pytest

from deskhook.cli.values import delays, duration, parse_time

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"), [("0s", 0), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2d", 172800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "1.5h", "-5s", "5m1x"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ArgumentTypeError, match="is not a duration"):
        duration(text)


def test_delays_are_comma_separated_and_may_be_none() -> None:
    assert delays("5s, 1m") == [timedelta(seconds=5), timedelta(minutes=1)]
    assert delays("") == []


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("2026-11-28T10:00:00Z", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28 10:00", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        (
            "2026-11-28T13:00:00+03:00",
            datetime(2026, 11, 28, 13, tzinfo=timezone(timedelta(hours=3))),
        ),
    ],
)
def test_points_in_time(text: str, moment: datetime) -> None:
    assert parse_time(text, NOW) == moment


def test_not_a_point_in_time() -> None:
    with pytest.raises(ArgumentTypeError, match="is neither a time"):
        parse_time("yesterday", NOW)
