"""The DNS guard (tests/support/dns_guard.py) refuses every lookup a nameserver would see,
before the system resolver gets it, in the suite's process and in the processes it starts, and
fails the test even when the code under test swallows the error."""

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.dns_guard import RECORD_ENV, Guard, HostsFile, LookupRefused, take_refused
from tests.support.dns_guard_plugin import postgres_hosts

HOSTS = HostsFile(
    "127.0.0.1 localhost vm  # the loopback\n::1 ip6-localhost\n", allowed=["Postgres.test"]
)


class SystemResolver:
    """Stands in for the socket module's lookups: notes each call that reached it."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, tuple[Any, ...]]] = []

    def functions(self) -> dict[str, Callable[..., Any]]:
        def lookup(name: str) -> Callable[..., Any]:
            return lambda *args, **kwargs: self.asked.append((name, args))

        return {
            name: lookup(name)
            for name in (
                "getaddrinfo",
                "gethostbyname",
                "gethostbyname_ex",
                "gethostbyaddr",
                "getnameinfo",
            )
        }


@pytest.mark.parametrize(
    ("function", "args", "name"),
    [
        ("getaddrinfo", ("some-name.invalid", 443), "some-name.invalid"),
        ("getaddrinfo", (b"SOME-NAME.invalid", 443, socket.AF_UNSPEC), "SOME-NAME.invalid"),
        # The hosts file lists localhost for IPv4 only: glibc asks DNS for its IPv6 address.
        ("getaddrinfo", ("localhost", 443, socket.AF_INET6), "localhost"),
        ("getaddrinfo", ("localhost.", 443), "localhost."),
        ("gethostbyname", ("some-name.invalid",), "some-name.invalid"),
        ("gethostbyname_ex", ("some-name.invalid",), "some-name.invalid"),
        ("gethostbyaddr", ("some-name.invalid",), "some-name.invalid"),
        ("gethostbyaddr", ("192.0.2.1",), "192.0.2.1"),  # a PTR query
        ("getnameinfo", (("192.0.2.1", 443), 0), "192.0.2.1"),
    ],
)
def test_a_lookup_a_nameserver_would_see_is_refused_before_the_resolver(
    tmp_path: Path, function: str, args: tuple[Any, ...], name: str
) -> None:
    system = SystemResolver()
    guard = Guard(tmp_path / "record", HOSTS, system.functions())

    with pytest.raises(LookupRefused) as refused:
        getattr(guard, function)(*args)

    assert f"refused a lookup of {name!r}" in str(refused.value)
    assert isinstance(refused.value, socket.gaierror)
    assert system.asked == []
    assert take_refused(guard.record) == [repr(name)]


@pytest.mark.parametrize(
    ("function", "args", "kwargs"),
    [
        ("getaddrinfo", ("localhost", 443), {}),
        ("getaddrinfo", ("LOCALHOST", 443, socket.AF_INET), {}),
        ("getaddrinfo", ("ip6-localhost", 443, socket.AF_INET6), {}),
        ("getaddrinfo", ("vm", 443), {}),
        ("getaddrinfo", ("127.0.0.1", 443), {}),
        ("getaddrinfo", ("127.1", 443), {}),  # inet_aton spellings are addresses too
        ("getaddrinfo", ("::1", 443), {}),
        ("getaddrinfo", ("fe80::1%1", 443), {}),
        ("getaddrinfo", (None, 443), {}),
        ("getaddrinfo", ("name.invalid", 443, 0, 0, 0, socket.AI_NUMERICHOST), {}),
        ("getaddrinfo", ("name.invalid", 443), {"flags": socket.AI_NUMERICHOST}),
        ("getaddrinfo", ("postgres.test", 5432, socket.AF_INET6), {}),
        ("gethostbyname", ("localhost",), {}),
        ("gethostbyaddr", ("127.0.0.1",), {}),
        ("getnameinfo", (("192.0.2.1", 443), socket.NI_NUMERICHOST), {}),
        ("getnameinfo", (("127.0.0.1", 443), 0), {}),
    ],
)
def test_a_lookup_answered_without_a_nameserver_passes(
    tmp_path: Path, function: str, args: tuple[Any, ...], kwargs: dict[str, int]
) -> None:
    system = SystemResolver()
    guard = Guard(tmp_path / "record", HOSTS, system.functions())

    getattr(guard, function)(*args, **kwargs)

    assert [name for name, _ in system.asked] == [function]
    assert not (tmp_path / "record").exists()


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("", []),
        ("postgresql://u:pw@127.0.0.1:55432/postgres", ["127.0.0.1"]),
        ("postgresql://u@db.internal/postgres", ["db.internal"]),
        ("postgresql://u:pw@one.internal:5432,[::1]:5433,[::2]/x", ["one.internal", "::1", "::2"]),
    ],
)
def test_the_postgresql_server_the_suite_is_pointed_at_may_be_a_name(
    url: str, hosts: list[str]
) -> None:
    assert postgres_hosts(url) == hosts


def test_the_suite_is_guarded() -> None:
    with pytest.raises(LookupRefused):
        socket.getaddrinfo("some-name.invalid", 443)

    assert take_refused(Path(os.environ[RECORD_ENV])) == ["'some-name.invalid'"]


def test_a_process_the_suite_starts_is_guarded_and_recorded() -> None:
    lookup = "import socket; socket.getaddrinfo('child-name.invalid', 443)"

    finished = subprocess.run(
        [sys.executable, "-c", lookup], capture_output=True, text=True, timeout=60, check=False
    )

    assert finished.returncode == 1
    assert "DNS guard refused a lookup of 'child-name.invalid'" in finished.stderr
    assert take_refused(Path(os.environ[RECORD_ENV])) == ["'child-name.invalid'"]


def test_a_test_that_swallows_the_refusal_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_swallows_it():
            try:
                socket.getaddrinfo("swallowed.invalid", 443)
            except OSError:
                pass
        """
    )

    result = pytester.runpytest_subprocess("-p", "tests.support.dns_guard_plugin")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*looked up 'swallowed.invalid' through the system resolver*"])
