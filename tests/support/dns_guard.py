"""The suite's DNS guard: a test that makes the machine ask its nameserver for a name fails.

Tests resolve host names through tests/support/resolver.py, offline. `install` wraps the socket
module's lookups, which asyncio's loop.getaddrinfo, aiohttp's default resolver and
socket.create_connection all call, so that a name the system resolver would send to a
nameserver (neither an IP address nor in /etc/hosts) is refused before it gets there: the lookup
raises `LookupRefused`, a socket.gaierror as from a failed lookup, and the name is appended to
the record file. The suite reads the record after every test, so a test fails even when the
code under test swallowed the error.

tests/conftest.py installs the guard in the suite's process and names tests/support/child_site in
PYTHONPATH; the sitecustomize.py there installs it in every Python process the suite starts
(`deskhook serve`, the CLI, the demo, scripts), with the same record file. Standard library
only: it is imported at the start of each of those processes."""

import os
import socket
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

RECORD_ENV = "DNS_GUARD_RECORD"
# Names the person running the suite pointed it at (its PostgreSQL server), comma-separated.
ALLOW_ENV = "DNS_GUARD_ALLOW"
HOSTS_FILE = Path("/etc/hosts")
CHILD_SITE = Path(__file__).parent / "child_site"

# The lookups the socket module offers; each one's host or address argument comes first.
_GUARDED = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo")
_REAL: dict[str, Callable[..., Any]] = {name: getattr(socket, name) for name in _GUARDED}


class LookupRefused(socket.gaierror):
    """A lookup the system resolver would have sent to a nameserver."""


class HostsFile:
    """Which names and addresses /etc/hosts answers, so that no nameserver is asked: a name
    only for the address families it lists (glibc asks DNS for a family the file lacks).
    `allowed` names pass whatever the family."""

    def __init__(self, text: str, allowed: Iterable[str] = ()) -> None:
        self.families: dict[str, set[socket.AddressFamily]] = {
            name.lower(): {socket.AF_INET, socket.AF_INET6} for name in allowed
        }
        self.addresses: set[str] = set()
        for line in text.splitlines():
            address, *names = line.partition("#")[0].split() or [""]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            if names:
                self.addresses.add(address)
            for name in names:
                self.families.setdefault(name.lower(), set()).add(family)

    def answers(self, name: str, family: int) -> bool:
        families = self.families.get(name.lower(), set())
        return bool(families) and (family == socket.AF_UNSPEC or family in families)


class Guard:
    """Refuses and records, in `record`, every lookup `hosts` cannot answer; passes the others
    to `real` (the socket module's functions, by name)."""

    def __init__(
        self, record: Path, hosts: HostsFile, real: dict[str, Callable[..., Any]] = _REAL
    ) -> None:
        self.record = record
        self._hosts = hosts
        self._real = real

    def getaddrinfo(
        self, host: str | bytes | None, port: object, family: int = 0, *args: Any, **kwargs: Any
    ) -> Any:
        flags = kwargs.get("flags", args[2] if len(args) > 2 else 0)
        if host is not None and not flags & socket.AI_NUMERICHOST:
            self._check_name(_text(host), family)
        return self._real["getaddrinfo"](host, port, family, *args, **kwargs)

    def gethostbyname(self, hostname: str) -> Any:
        self._check_name(hostname, socket.AF_INET)
        return self._real["gethostbyname"](hostname)

    def gethostbyname_ex(self, hostname: str) -> Any:
        self._check_name(hostname, socket.AF_INET)
        return self._real["gethostbyname_ex"](hostname)

    def gethostbyaddr(self, ip_address: str) -> Any:
        # A name is looked up first; an address is looked up in reverse (a PTR query).
        if not self._is_address(ip_address):
            self._check_name(ip_address, socket.AF_UNSPEC)
        elif ip_address not in self._hosts.addresses:
            self._refuse(ip_address)
        return self._real["gethostbyaddr"](ip_address)

    def getnameinfo(self, sockaddr: tuple[Any, ...], flags: int) -> Any:
        if not flags & socket.NI_NUMERICHOST and sockaddr[0] not in self._hosts.addresses:
            self._refuse(str(sockaddr[0]))
        return self._real["getnameinfo"](sockaddr, flags)

    def _check_name(self, name: str, family: int) -> None:
        if not self._is_address(name) and not self._hosts.answers(name, family):
            self._refuse(name)

    def _is_address(self, host: str) -> bool:
        # Exactly what the system resolver reads as an address, in all its spellings; with
        # AI_NUMERICHOST it never asks a nameserver.
        try:
            _REAL["getaddrinfo"](host, None, flags=socket.AI_NUMERICHOST)
        except (socket.gaierror, UnicodeError):
            return False
        return True

    def _refuse(self, name: str) -> None:
        # One write per line, appended: the suite's processes share the file.
        with self.record.open("a") as record:
            record.write(f"{name!r}\n")
        raise LookupRefused(
            socket.EAI_NONAME,
            f"the DNS guard refused a lookup of {name!r}: tests resolve names only through "
            "tests/support/resolver.py, and only names in /etc/hosts may reach the system resolver",
        )


def install(record: Path, allowed: Iterable[str] = ()) -> Guard:
    """Guards this process's lookups from now on, recording refusals in `record` and letting
    `allowed` names through too; installing again only changes the record."""
    installed = getattr(socket.getaddrinfo, "__self__", None)
    if isinstance(installed, Guard):
        installed.record = record
        return installed
    guard = Guard(record, HostsFile(HOSTS_FILE.read_text(), allowed))
    for name in _GUARDED:
        setattr(socket, name, getattr(guard, name))
    return guard


def guard_suite(allowed: Iterable[str] = ()) -> Path:
    """Guards this process and, through their environment, the Python processes it starts from
    now on, letting `allowed` names through; returns the record, a new empty file."""
    handle, name = tempfile.mkstemp(prefix="deskhook-dns-guard-", suffix=".txt")
    os.close(handle)
    os.environ[RECORD_ENV] = name
    os.environ[ALLOW_ENV] = ",".join(allowed)
    # The repository too, where sitecustomize imports this module from.
    paths = (str(CHILD_SITE), str(CHILD_SITE.parents[2]), os.environ.get("PYTHONPATH", ""))
    os.environ["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    return install(Path(name), allowed).record


def install_from_environment() -> None:
    """In a process the suite started: the guard with the suite's record, if it named one."""
    record = os.environ.get(RECORD_ENV)
    if record:
        install(Path(record), filter(None, os.environ.get(ALLOW_ENV, "").split(",")))


def take_refused(record: Path) -> list[str]:
    """The names refused since the last call, emptying the record."""
    refused = record.read_text().splitlines()
    if refused:
        record.write_text("")
    return refused


def _text(host: str | bytes) -> str:
    return host.decode("ascii", errors="replace") if isinstance(host, bytes) else host
