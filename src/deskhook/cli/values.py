"""Argument types: durations, points in time and input files. Each fails with an
ArgumentTypeError, which argparse shows next to the argument before exiting with 2."""

import re
import sys
from argparse import ArgumentParser, ArgumentTypeError
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deskhook.domain.accounts import account_id_violation

_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> timedelta:
    """`90s`, `5m`, `2h`, `1d`, or a sum such as `1h30m`."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ArgumentTypeError(f"{text!r} is not a duration such as 30s, 5m, 2h or 1d")
    return timedelta(seconds=sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts))


def delays(text: str) -> list[timedelta]:
    """Comma-separated durations; an empty text is an empty list."""
    return [duration(part.strip()) for part in text.split(",")] if text.strip() else []


def parse_time(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC unless it names an offset), or a duration meaning that long ago."""
    try:
        return now - duration(text)
    except ArgumentTypeError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ArgumentTypeError(
            f"{text!r} is neither a time such as 2026-11-28T10:00:00Z"
            " nor a duration ago such as 30m"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def point_in_time(text: str) -> datetime:
    return parse_time(text, datetime.now(UTC))


def account(text: str) -> str:
    """An account id; empty is the default account."""
    if (violation := account_id_violation(text)) is not None:
        raise ArgumentTypeError(f"{text!r} {violation.description}")
    return text


def add_account_flag(parser: ArgumentParser, help: str, *, required: bool = False) -> None:
    parser.add_argument("--account", type=account, metavar="ID", required=required, help=help)


def file_bytes(path: str) -> bytes:
    """The file's content; `-` reads standard input."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ArgumentTypeError(f"cannot read {path}: {error.strerror}") from None
