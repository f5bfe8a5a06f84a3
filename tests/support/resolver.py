"""The DNS every server and webhook client in the suite resolves through: deterministic and
offline, so no test asks the machine's nameserver anything (tests/support/dns_guard.py fails one
that does)."""

import socket
from collections.abc import Mapping, Sequence
from ipaddress import IPv6Address, ip_address
from typing import Final

from aiohttp.abc import AbstractResolver, ResolveResult

# What /etc/hosts answers, and what the receiver's certificate names.
LOCALHOST: Final[Mapping[str, Sequence[str]]] = {"localhost": ("127.0.0.1",)}


class StaticResolver(AbstractResolver):
    """Answers a name in `names` with its addresses, in order, and any other name as DNS answers
    one that does not exist (NXDOMAIN). A test may change `names` between lookups, as a
    rebinding name does; `lookups` lists the names asked, in order."""

    def __init__(self, names: Mapping[str, Sequence[str]] = LOCALHOST) -> None:
        self.names = dict(names)
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        results = [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=_family(address),
                proto=socket.IPPROTO_TCP,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in self.names.get(host.lower(), ())
            if family in (socket.AF_UNSPEC, _family(address))
        ]
        if not results:
            # What the system resolver raises for a name that does not exist.
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return results

    async def close(self) -> None:
        pass


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if isinstance(ip_address(address), IPv6Address) else socket.AF_INET
