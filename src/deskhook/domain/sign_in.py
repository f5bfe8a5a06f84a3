"""How many refused sign-ins an address may make (docs/design.md §12.1): each address has a
bucket of `burst` tries, refilled at `per_minute`; a refused token takes one, and an address
whose bucket is empty is turned away until it refills. Addresses are counted by network (an
IPv6 /64, which one host usually holds whole), so that rotating through one's own addresses
buys nothing. Pure: the caller keeps the buckets and tells the time."""

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from deskhook.domain.rate import TokenBucket, refilled, taken


@dataclass(frozen=True)
class SignInPolicy:
    burst: int = 10
    per_minute: float = 10.0

    @property
    def per_second(self) -> float:
        return self.per_minute / 60


def address_key(address: str | None) -> str:
    """What refusals are counted by: an IPv4 address, an IPv6 /64, or the text as it is."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return address or ""
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def may_try(bucket: TokenBucket | None, policy: SignInPolicy, now: datetime) -> bool:
    return refilled(bucket, policy.per_second, now, policy.burst).tokens >= 1


def after_refusal(bucket: TokenBucket | None, policy: SignInPolicy, now: datetime) -> TokenBucket:
    return taken(refilled(bucket, policy.per_second, now, policy.burst), 1)


def is_full(bucket: TokenBucket, policy: SignInPolicy, now: datetime) -> bool:
    """Refilled whole: the address's refusals are forgotten."""
    return refilled(bucket, policy.per_second, now, policy.burst).tokens >= policy.burst
