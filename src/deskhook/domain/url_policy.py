"""Which webhook URLs, and which addresses they resolve to, deskhook may send to.

A webhook URL is chosen by an admin but fetched by the server, from inside its network: without
a policy it is a server-side request forgery (SSRF) tool that reaches loopback services, the
private network and the cloud metadata endpoint at 169.254.169.254. `check_url` vets a URL when
a channel is saved (HTTPS, no credentials, a sane host, no literal internal address however it
is spelled); `address_refusal` vets every address a host name resolves to at send time, so a
name that later rebinds to an internal address is still refused. `UrlPolicy.allow_networks`
exempts networks an operator trusts. Pure: no I/O, no DNS.
"""

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from urllib.parse import SplitResult, urlsplit

from yarl import URL

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

MAX_URL_LENGTH = 2048

REASON_URL_TOO_LONG = "URL_TOO_LONG"
REASON_URL_BAD_CHARACTER = "URL_BAD_CHARACTER"
REASON_URL_NOT_ABSOLUTE = "URL_NOT_ABSOLUTE"
REASON_URL_NOT_HTTPS = "URL_NOT_HTTPS"
REASON_URL_HAS_CREDENTIALS = "URL_HAS_CREDENTIALS"
REASON_URL_BAD_HOST = "URL_BAD_HOST"
REASON_URL_BAD_PORT = "URL_BAD_PORT"
REASON_URL_ADDRESS_REFUSED = "URL_ADDRESS_REFUSED"

# Each refused range with the phrase that names it in a refusal. The ranges do not overlap.
REFUSED_RANGES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ip_network(cidr), phrase)
    for cidr, phrase in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # includes the broadcast address 255.255.255.255
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("2001::/32", "Teredo tunnel"),
        ("2001:2::/48", "benchmarking"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing"),
        ("fc00::/7", "private"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)

# IPv6 forms that carry an IPv4 address in their last 32 bits and may reach it: mapped,
# translated (SIIT), compatible and NAT64. ::/96 also holds :: and ::1, which REFUSED_RANGES
# judges as themselves before their embedded 0.0.0.0 and 0.0.0.1 are looked at.
_IPV4_IN_LAST_32_BITS = tuple(
    IPv6Network(cidr) for cidr in ("::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96")
)

_LOOPBACK_ADDRESSES: tuple[IPAddress, ...] = (IPv4Address("127.0.0.1"), IPv6Address("::1"))

# glibc's inet_aton and browsers (WHATWG) read each dot-separated part of an IPv4 address as
# hex after 0x, octal after a leading 0, else decimal. Eleven decimal digits exceed 32 bits in
# any case, and the bound keeps int() away from huge decimal strings.
_INET_ATON_PART = re.compile(
    r"0x(?P<hex>[0-9a-f]*)|(?P<octal>0[0-7]*)|(?P<decimal>[1-9][0-9]{0,9})", re.IGNORECASE
)
_HOST_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_MAX_HOST_NAME_LENGTH = 253
# Browsers refuse a host whose last label is a number but which is no IPv4 address
# ("example.123", "1.2.3.256"): it is a mistyped address, never a DNS name.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*", re.IGNORECASE)


@dataclass(frozen=True)
class UrlPolicy:
    allow_http: bool = False
    """Plain http:// is allowed too; a development setting."""
    allow_networks: tuple[IPNetwork, ...] = ()
    """Addresses in these networks are always allowed, whatever range they are in."""


class UrlRefused(Exception):
    """A URL the policy refuses. `reason` is one of the REASON_* codes for programs; `message`,
    also `str(error)`, is a sentence for the person who typed the URL."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    """The URL as given, not rewritten."""
    scheme: str
    """"https", or "http" when the policy allows it."""
    host: str
    """Lower case, without a trailing dot, IDNA-encoded; an IPv6 address without brackets."""
    port: int
    """The explicit port, or the scheme's default."""
    address: IPAddress | None
    """The address when the host is a literal one, in whatever spelling; else None."""


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells, in any form a resolver (glibc inet_aton) or browser reads as
    one: `[::1]` with or without brackets or a zone id, dotted decimal, one 32-bit number
    (`2130706433`), octal or hex parts (`0177.0.0.1`, `0x7f.1`), fewer than four parts
    (`127.1`) and mixes of them. None for a host name. Expects an ASCII host, as a URL parser
    gives it after IDNA encoding."""
    if host.startswith("[") and host.endswith("]"):
        return _parse_ipv6(host[1:-1])
    if ":" in host:
        return _parse_ipv6(host)
    return _parse_inet_aton(host)


def address_refusal(address: IPAddress, policy: UrlPolicy) -> str | None:
    """None when deskhook may connect to `address`, else the name of the range that refuses it,
    such as "loopback" or "link-local (cloud metadata)"."""
    embedded = _embedded_ipv4(address)
    candidates: tuple[IPAddress, ...] = (address,) if embedded is None else (address, embedded)
    if any(candidate in network for candidate in candidates for network in policy.allow_networks):
        return None
    for candidate in candidates:
        for network, phrase in REFUSED_RANGES:
            if candidate in network:
                return phrase
    # Whatever else IANA does not mark globally reachable is no place for a webhook either.
    return None if candidates[-1].is_global else "reserved"


def check_url(url: str, policy: UrlPolicy) -> CheckedUrl:
    """The URL's parts when `policy` allows sending webhooks to it; raises UrlRefused if not.
    A host name is not resolved here: its addresses are checked when a webhook is sent."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(
            REASON_URL_TOO_LONG,
            f"the URL is {len(url)} characters long; at most {MAX_URL_LENGTH} are allowed",
        )
    # URL parsers silently drop tabs and newlines and strip leading control characters, so
    # the URL stored would not be the URL sent; invisible characters also deceive readers.
    if any(character.isspace() or not character.isprintable() for character in url):
        raise UrlRefused(
            REASON_URL_BAD_CHARACTER, "the URL must not contain spaces or control characters"
        )
    split = _split(url)
    if not _port_is_valid(split):
        raise UrlRefused(REASON_URL_BAD_PORT, "the URL's port must be a number from 1 to 65535")
    parsed = _parse_as_sent(url)
    allowed_schemes = ("https", "http") if policy.allow_http else ("https",)
    if parsed.scheme and parsed.scheme not in allowed_schemes:
        raise UrlRefused(REASON_URL_NOT_HTTPS, f"the URL must use {' or '.join(allowed_schemes)}")
    if not parsed.scheme or not parsed.raw_host or parsed.port is None:
        raise UrlRefused(
            REASON_URL_NOT_ABSOLUTE, "the URL must be absolute, like https://example.com/hook"
        )
    # Checked on urllib's reading, which keeps an empty user name ("https://@host/") that
    # yarl drops.
    if "@" in split.netloc:
        raise UrlRefused(
            REASON_URL_HAS_CREDENTIALS, "the URL must not contain a user name or password"
        )
    host = parsed.raw_host.removesuffix(".")
    address = parse_ip_literal(host)
    if not _host_is_valid(host, address, bracketed="[" in split.netloc):
        raise _bad_host()
    _check_addresses(host, _addresses_known_without_dns(host, address), policy)
    return CheckedUrl(url=url, scheme=parsed.scheme, host=host, port=parsed.port, address=address)


def _parse_ipv6(text: str) -> IPv6Address | None:
    # A zone id only says which interface reaches a link-local address; the address decides.
    address, _, _zone = text.partition("%")
    try:
        return IPv6Address(address)
    except ValueError:
        return None


def _parse_inet_aton(host: str) -> IPv4Address | None:
    # Browsers accept one trailing dot ("127.0.0.1."); glibc does not, and reading it as an
    # address can only refuse more.
    parts = host.removesuffix(".").split(".")
    if len(parts) > 4:
        return None
    numbers: list[int] = []
    for part in parts:
        match = _INET_ATON_PART.fullmatch(part)
        if match is None:
            return None
        numbers.append(_inet_aton_number(match))
    *leading, last = numbers
    # Every part but the last is one byte; the last fills the bytes that remain.
    if any(number > 0xFF for number in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return IPv4Address(value)


def _inet_aton_number(match: re.Match[str]) -> int:
    if match["hex"] is not None:
        # Browsers read a bare "0x" as zero; some glibc versions refuse it.
        return int(match["hex"] or "0", 16)
    return int(match[0], 8 if match["octal"] is not None else 10)


def _embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    if isinstance(address, IPv4Address):
        return None
    if any(address in network for network in _IPV4_IN_LAST_32_BITS):
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as error:  # unbalanced brackets, or an IPv4 address inside them
        raise _bad_host() from error


def _port_is_valid(split: SplitResult) -> bool:
    # urllib reads the port strictly (ASCII digits only), where yarl's int() also takes "+1"
    # or full-width digits; checking here first also leaves yarl no port to complain about.
    try:
        return split.port != 0
    except ValueError:
        return False


def _parse_as_sent(url: str) -> URL:
    # yarl is the parser aiohttp sends with, so the host checked is the host connected to.
    try:
        return URL(url)
    except ValueError as error:  # also UnicodeError from IDNA encoding
        raise _bad_host() from error


def _bad_host() -> UrlRefused:
    return UrlRefused(REASON_URL_BAD_HOST, "the URL's host is not a valid host name or IP address")


def _host_is_valid(host: str, address: IPAddress | None, *, bracketed: bool) -> bool:
    if bracketed:
        # Brackets hold an IPv6 address; yarl unbrackets an IPvFuture one ("[v1.x]") into what
        # would pass for a host name.
        return isinstance(address, IPv6Address)
    if address is not None:
        return True
    labels = host.split(".")
    return (
        len(host) <= _MAX_HOST_NAME_LENGTH
        and all(_HOST_LABEL.fullmatch(label) for label in labels)
        and not _NUMERIC_LABEL.fullmatch(labels[-1])
    )


def _addresses_known_without_dns(host: str, address: IPAddress | None) -> tuple[IPAddress, ...]:
    if address is not None:
        return (address,)
    # Resolvers answer localhost and its subdomains themselves (RFC 6761), whatever DNS says.
    if host == "localhost" or host.endswith(".localhost"):
        return _LOOPBACK_ADDRESSES
    return ()


def _check_addresses(host: str, addresses: tuple[IPAddress, ...], policy: UrlPolicy) -> None:
    # One allowed address is enough: at send time the resolver connects to the allowed ones.
    refusals = [address_refusal(address, policy) for address in addresses]
    if refusals and None not in refusals:
        raise UrlRefused(
            REASON_URL_ADDRESS_REFUSED,
            f"the URL's host {host} is a refused address ({refusals[0]}); "
            "list its network in the server's --allow-network (DESKHOOK_ALLOW_NETWORKS) to "
            "permit it",
        )
