"""The HTTPS client that sends every webhook: one pooled session, verified TLS, no redirects,
bounded time and body, and the URL policy held on the address actually connected to."""

import asyncio
import errno
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from importlib.metadata import version
from ipaddress import ip_address
from pathlib import Path

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from deskhook.domain.responses import FailureReason, HttpResponse
from deskhook.domain.url_policy import UrlPolicy, UrlRefused, address_refusal, check_url

# URLs remembered as allowed by the policy; past this the memory starts over.
MAX_REMEMBERED_URLS = 10_000
DEFAULT_USER_AGENT = f"deskhook/{version('deskhook')}"

ResolverFactory = Callable[[], AbstractResolver]
"""Makes the resolver that looks up receivers' host names, on the loop that will use it: the
system's in production, a deterministic offline one in tests."""
# getaddrinfo in a thread, as the rest of the machine resolves (/etc/hosts, nsswitch), even
# where aiodns is installed and would make it aiohttp's default.
SYSTEM_RESOLVER: ResolverFactory = ThreadedResolver


@dataclass(frozen=True)
class HttpLimits:
    """Per attempt: `connect_timeout` covers DNS, TCP and the TLS handshake; `total_timeout` the
    whole attempt up to the body read; `body_limit` bytes of the answer are kept."""

    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    body_limit: int = 4096
    max_connections: int = 1000


class RefusedAddresses(OSError):
    """A host name resolved only to addresses the URL policy refuses. An OSError because aiohttp
    wraps resolver OSErrors in ClientConnectorDNSError, keeping this one as `os_error`."""


class PolicyResolver(AbstractResolver):
    """`resolver`'s answers, minus every address the URL policy refuses.

    aiohttp connects only to addresses its resolver returned, so the address checked is the
    address connected to: a name that resolves differently on a second lookup (DNS rebinding)
    cannot slip a private address past the check."""

    def __init__(self, policy: UrlPolicy, resolver: AbstractResolver) -> None:
        self._policy = policy
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        allowed: list[ResolveResult] = []
        refused: dict[str, str] = {}
        for result in await self._resolver.resolve(host, port, family):
            refusal = address_refusal(ip_address(result["host"]), self._policy)
            if refusal is None:
                allowed.append(result)
            else:
                refused[result["host"]] = refusal
        if not allowed:
            listed = ", ".join(f"{address} ({refusal})" for address, refusal in refused.items())
            raise RefusedAddresses(f"{host} resolves only to refused addresses: {listed}")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()


def _as_text(body: bytes) -> str:
    """A receiver's answer as the log keeps it: bytes that are not UTF-8, and NUL, which
    PostgreSQL text cannot hold (the whole batch of attempts would fail to record), become
    U+FFFD."""
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def classify(problem: Exception | int, limits: HttpLimits) -> tuple[FailureReason, str]:
    """Why an attempt failed, as a reason code and a sentence for the person reading the log.
    `problem` is what `WebhookClient.post` caught, or the status of an answer that was not 2xx."""
    if isinstance(problem, int):
        message = f"the receiver answered HTTP {problem} {_phrase(problem)}".rstrip()
        if 300 <= problem < 400:
            message += " (redirects are not followed)"
        return FailureReason.HTTP_STATUS, message
    # Order matters: aiohttp's DNS and TLS errors are also ClientConnectorErrors, and every
    # aiohttp error is caught by the last line.
    if isinstance(problem, UrlRefused):
        return FailureReason.ADDRESS_REFUSED, problem.message
    if isinstance(problem, aiohttp.ClientConnectorDNSError):
        if isinstance(problem.os_error, RefusedAddresses):
            return FailureReason.ADDRESS_REFUSED, str(problem.os_error)
        detail = problem.os_error.strerror or str(problem.os_error)
        return FailureReason.DNS, f"DNS lookup failed for {problem.host}: {detail}"
    if isinstance(problem, aiohttp.ClientSSLError):
        return FailureReason.TLS, f"TLS handshake failed: {_tls_detail(problem.os_error)}"
    if isinstance(problem, aiohttp.ClientConnectorError):
        where = f"{problem.host}:{problem.port}"
        if problem.os_error.errno == errno.ECONNREFUSED:
            return FailureReason.CONNECT, f"connection refused by {where}"
        detail = problem.os_error.strerror or str(problem.os_error)
        return FailureReason.CONNECT, f"could not connect to {where}: {detail}"
    if isinstance(problem, aiohttp.ConnectionTimeoutError):
        return FailureReason.TIMEOUT, f"could not connect within {limits.connect_timeout:g} s"
    if isinstance(problem, asyncio.TimeoutError):
        return FailureReason.TIMEOUT, f"no complete answer within {limits.total_timeout:g} s"
    if isinstance(problem, aiohttp.ServerDisconnectedError):
        return FailureReason.NETWORK, "the receiver closed the connection without answering"
    if isinstance(problem, aiohttp.ClientPayloadError):
        # aiohttp's own wording names internal classes and codes: not the receiver's.
        return (
            FailureReason.NETWORK,
            "the receiver closed the connection in the middle of its answer",
        )
    # aiohttp wraps a reset in ClientOSError, which keeps the errno.
    if isinstance(problem, OSError) and problem.errno == errno.ECONNRESET:
        return FailureReason.NETWORK, "the receiver reset the connection"
    # aiohttp refuses a few URLs the policy passes, such as the IPv4 spelling 127.1.
    if isinstance(problem, aiohttp.InvalidURL):
        return FailureReason.ADDRESS_REFUSED, f"the URL is refused: {problem}"
    # Redirects are not followed and statuses not raised, so a response error here can only be
    # an answer aiohttp could not parse.
    if isinstance(problem, aiohttp.ClientResponseError):
        return FailureReason.NETWORK, f"the receiver sent a malformed answer: {problem.message}"
    return FailureReason.NETWORK, f"the connection failed: {problem}"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _tls_detail(error: OSError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {error.verify_message}"
    if isinstance(error, ssl.SSLError) and error.reason:
        # OpenSSL's reason codes read well in lower case: WRONG_VERSION_NUMBER.
        return str(error.reason).lower().replace("_", " ")
    return str(error)


class WebhookClient:
    """Sends webhooks over one pooled session; `post` turns every network or receiver problem
    into an `HttpResponse` rather than raising. Call `close` when done."""

    def __init__(
        self,
        policy: UrlPolicy,
        limits: HttpLimits = HttpLimits(),
        ca_bundle: Path | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        resolver: ResolverFactory = SYSTEM_RESOLVER,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._limits = limits
        self._user_agent = user_agent
        # Built here, not on first use, so that a bad CA bundle fails at start-up.
        self._tls = ssl.create_default_context()
        if ca_bundle is not None:
            self._tls.load_verify_locations(cafile=ca_bundle)
        self._passed: set[str] = set()
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        # Created on first use because an aiohttp session belongs to the running loop. One
        # session for every receiver keeps connections alive: a TLS handshake per request
        # costs ten times the request.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections,
                ssl=self._tls,
                resolver=PolicyResolver(self._policy, self._resolver()),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=self._limits.total_timeout, connect=self._limits.connect_timeout
                ),
                headers={"user-agent": self._user_agent},
                # A receiver's cookies must not travel to the next request, or to another
                # receiver.
                cookie_jar=aiohttp.DummyCookieJar(),
                # A proxy from the environment would be the address connected to, and the
                # resolver's check would never see the receiver's.
                trust_env=False,
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """POST `body` to `url`; a 2xx answer is success, anything else (3xx included) a
        failure with its reason."""
        started = time.monotonic()
        status, text, retry_after = 0, "", None
        failure: FailureReason | None
        try:
            # aiohttp connects to a literal address without asking the resolver, so check_url
            # vets it here; it parses with yarl, as aiohttp does, so the host checked is the
            # host connected to.
            self._check(url)
            async with self._open_session().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status, retry_after = response.status, response.headers.get("retry-after")
                text = _as_text(await self._read_start(response))
        except (UrlRefused, aiohttp.ClientError, OSError) as problem:
            failure, error = classify(problem, self._limits)
        else:
            failure, error = (None, "") if 200 <= status < 300 else classify(status, self._limits)
        return HttpResponse(status, text, failure, error, time.monotonic() - started, retry_after)

    def _check(self, url: str) -> None:
        # A channel's URL is the same on every attempt and the policy never changes while the
        # client lives: a URL that passed once passes again, so it is remembered (bounded).
        if url in self._passed:
            return
        check_url(url, self._policy)
        if len(self._passed) >= MAX_REMEMBERED_URLS:
            self._passed.clear()
        self._passed.add(url)

    async def _read_start(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self._limits.body_limit
        kept = bytearray()
        while len(kept) < limit and (chunk := await response.content.read(limit - len(kept))):
            kept += chunk
        if not response.content.at_eof():
            # Closing the connection is cheaper than draining a long body no one keeps; a
            # body read to its end lets the connection go back to the pool instead.
            response.close()
        return bytes(kept)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
