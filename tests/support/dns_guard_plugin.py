"""The DNS guard (tests/support/dns_guard.py) as a pytest plugin: on for the whole session, and a
test during which a name was refused fails, whatever the code under test did with the error."""

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.databases import POSTGRES_ENV
from tests.support.dns_guard import guard_suite, take_refused

_RECORD = pytest.StashKey[Path]()


def _failure(refused: list[str]) -> str:
    return (
        f"looked up {', '.join(refused)} through the system resolver, which would ask the "
        "machine's nameserver: resolve test names through tests/support/resolver.py"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RECORD] = guard_suite(postgres_hosts(os.environ.get(POSTGRES_ENV, "")))


def postgres_hosts(url: str) -> list[str]:
    """The hosts of the PostgreSQL server the suite was pointed at, which may be names: the
    person running it chose them, and tests never make them up. A URL may list several."""
    return [_host(part) for part in urlsplit(url).netloc.rpartition("@")[2].split(",") if part]


def _host(part: str) -> str:
    # "host:port" or "[address]:port"
    return part[1:].partition("]")[0] if part.startswith("[") else part.partition(":")[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    config.stash[_RECORD].unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def no_dns_lookups(request: pytest.FixtureRequest) -> Iterator[None]:
    """First in, last out: covers the test's other fixtures, their teardown included."""
    yield
    refused = take_refused(request.config.stash[_RECORD])
    if refused:
        pytest.fail(_failure(refused), pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # What the last module- or session-wide fixtures looked up on their way out.
    refused = take_refused(session.config.stash[_RECORD])
    if refused:
        session.config.get_terminal_writer().line(_failure(refused), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
