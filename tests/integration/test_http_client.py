"""The webhook client against a real HTTPS receiver on 127.0.0.1: what arrives, what the outcome
records, and how every kind of failure is classified. Host names resolve through an offline
resolver the test controls."""

import asyncio
import datetime
import socket
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import version
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

import pytest

from deskhook.delivery.http_client import (
    HttpLimits,
    PolicyResolver,
    RefusedAddresses,
    WebhookClient,
)
from deskhook.domain.responses import FailureReason
from deskhook.domain.url_policy import UrlPolicy
from tests.support.receiver import Answer, Receiver
from tests.support.resolver import StaticResolver

ALLOW_LOOPBACK = UrlPolicy(allow_networks=(IPv4Network("127.0.0.0/8"),))
NO_EXCEPTIONS = UrlPolicy()
DEFAULT_LIMITS = HttpLimits()


class Clients:
    """Makes a test's WebhookClients, trusting the receiver's CA unless told not to."""

    def __init__(self, ca_bundle: Path) -> None:
        self._ca_bundle = ca_bundle
        self._made: list[WebhookClient] = []

    def make(
        self,
        *,
        policy: UrlPolicy = ALLOW_LOOPBACK,
        limits: HttpLimits = DEFAULT_LIMITS,
        trust_receiver: bool = True,
        resolver: StaticResolver | None = None,
    ) -> WebhookClient:
        client = WebhookClient(
            policy,
            limits,
            self._ca_bundle if trust_receiver else None,
            resolver=StaticResolver if resolver is None else lambda: resolver,
        )
        self._made.append(client)
        return client

    async def close(self) -> None:
        for client in self._made:
            await client.close()


@pytest.fixture
async def clients(receiver: Receiver, tmp_path: Path) -> AsyncIterator[Clients]:
    made = Clients(receiver.write_ca(tmp_path / "receiver-ca.pem"))
    yield made
    await made.close()


@pytest.fixture
def client(clients: Clients) -> WebhookClient:
    return clients.make()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose TCP handshake succeeds (the kernel's backlog) but which never
    says a word, so a TLS handshake waits forever."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("status", [200, 202, 204])
async def test_a_2xx_answer_is_success(
    receiver: Receiver, client: WebhookClient, status: int
) -> None:
    body = b"" if status == 204 else b'{"received": true}'
    receiver.respond(Answer(status=status, body=body))

    outcome = await client.post(
        receiver.url(),
        b'{"event_type": "ticket_create"}',
        {"content-type": "application/json", "webhook-id": "msg_1", "x-deskhook-attempt": "1"},
    )

    assert outcome.succeeded
    assert (outcome.http_status, outcome.response_body) == (status, body.decode())
    assert (outcome.failure, outcome.error, outcome.retry_after) == (None, "", None)
    assert outcome.duration > 0
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.body == b'{"event_type": "ticket_create"}'
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "msg_1"
    assert request.headers["x-deskhook-attempt"] == "1"
    assert request.headers["user-agent"] == f"deskhook/{version('deskhook')}"


async def test_a_server_error_is_an_http_status_failure(
    receiver: Receiver, client: WebhookClient
) -> None:
    receiver.respond(Answer(status=500, body=b"database down \xff"))

    outcome = await client.post(receiver.url(), b"{}", {})

    assert not outcome.succeeded
    assert (outcome.failure, outcome.http_status) == (FailureReason.HTTP_STATUS, 500)
    assert outcome.error == "the receiver answered HTTP 500 Internal Server Error"
    assert outcome.response_body == "database down \ufffd"


async def test_a_redirect_is_not_followed(receiver: Receiver, client: WebhookClient) -> None:
    receiver.queue(Answer(status=302, headers={"location": receiver.url("/elsewhere")}))

    outcome = await client.post(receiver.url(), b"{}", {})

    assert (outcome.failure, outcome.http_status) == (FailureReason.HTTP_STATUS, 302)
    assert outcome.error == "the receiver answered HTTP 302 Found (redirects are not followed)"
    assert [request.path for request in receiver.requests] == ["/hook"]


async def test_retry_after_is_surfaced(receiver: Receiver, client: WebhookClient) -> None:
    receiver.respond(Answer(status=503, headers={"retry-after": "120"}))

    outcome = await client.post(receiver.url(), b"{}", {})

    assert (outcome.failure, outcome.http_status) == (FailureReason.HTTP_STATUS, 503)
    assert outcome.retry_after == "120"


async def test_connections_are_reused(receiver: Receiver, client: WebhookClient) -> None:
    first = await client.post(receiver.url(), b"1", {})
    second = await client.post(receiver.url(), b"2", {})

    assert first.succeeded
    assert second.succeeded
    assert receiver.requests[0].peer == receiver.requests[1].peer


async def test_only_the_start_of_a_big_body_is_read(
    receiver: Receiver, client: WebhookClient
) -> None:
    # Far more than aiohttp buffers before it stops reading, so the body is still arriving
    # when the client has its 4 KiB: the connection must then be closed, not reused.
    big = b"0123456789abcdef" * (4 * 65536)  # 4 MiB
    receiver.queue(Answer(body=big))

    first = await client.post(receiver.url(), b"1", {})
    await client.post(receiver.url(), b"2", {})

    assert first.succeeded
    assert first.response_body == big[:4096].decode()
    assert receiver.requests[0].peer != receiver.requests[1].peer


async def test_an_answer_too_slow_times_out(receiver: Receiver, clients: Clients) -> None:
    receiver.respond(Answer(delay=60))
    client = clients.make(limits=HttpLimits(total_timeout=0.3))

    sending = asyncio.create_task(client.post(receiver.url(), b"slow", {}))
    [request] = await receiver.wait_for_requests(1)
    outcome = await sending

    assert request.body == b"slow"
    assert (outcome.failure, outcome.http_status) == (FailureReason.TIMEOUT, 0)
    assert outcome.error == "no complete answer within 0.3 s"
    assert 0.3 <= outcome.duration < 10


async def test_a_silent_server_times_out_connecting(clients: Clients, silent_port: int) -> None:
    client = clients.make(limits=HttpLimits(connect_timeout=0.3))

    outcome = await client.post(f"https://127.0.0.1:{silent_port}/hook", b"{}", {})

    assert outcome.failure is FailureReason.TIMEOUT
    assert outcome.error == "could not connect within 0.3 s"


async def test_a_refused_connection(client: WebhookClient, closed_port: int) -> None:
    outcome = await client.post(f"https://127.0.0.1:{closed_port}/hook", b"{}", {})

    assert (outcome.failure, outcome.http_status) == (FailureReason.CONNECT, 0)
    assert outcome.error == f"connection refused by 127.0.0.1:{closed_port}"


async def test_a_connection_closed_without_an_answer(
    receiver: Receiver, client: WebhookClient
) -> None:
    receiver.queue(Answer(disconnect=True))

    outcome = await client.post(receiver.url(), b"{}", {})

    assert (outcome.failure, outcome.http_status) == (FailureReason.NETWORK, 0)
    assert outcome.error == "the receiver closed the connection without answering"


async def test_an_untrusted_certificate(receiver: Receiver, clients: Clients) -> None:
    client = clients.make(trust_receiver=False)

    outcome = await client.post(receiver.url(), b"{}", {})

    assert outcome.failure is FailureReason.TLS
    assert outcome.error.startswith("TLS handshake failed: certificate verify failed: ")
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("hostnames", "not_after", "complaint"),
    [
        (("other.example",), None, "Hostname mismatch"),
        (("localhost",), datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC), "expired"),
    ],
    ids=["wrong-host", "expired"],
)
async def test_a_bad_certificate(
    tmp_path: Path,
    hostnames: tuple[str, ...],
    not_after: datetime.datetime | None,
    complaint: str,
) -> None:
    async with Receiver(hostnames, not_after=not_after) as bad:
        client = WebhookClient(
            ALLOW_LOOPBACK, ca_bundle=bad.write_ca(tmp_path / "ca.pem"), resolver=StaticResolver
        )
        try:
            outcome = await client.post(bad.url(), b"{}", {})
        finally:
            await client.close()

    assert outcome.failure is FailureReason.TLS
    assert outcome.error.startswith("TLS handshake failed: certificate verify failed: ")
    assert complaint in outcome.error
    assert bad.requests == []


async def test_an_unresolvable_host(client: WebhookClient) -> None:
    outcome = await client.post("https://nonexistent.invalid/hook", b"{}", {})

    assert (outcome.failure, outcome.http_status) == (FailureReason.DNS, 0)
    assert outcome.error.startswith("DNS lookup failed for nonexistent.invalid: ")


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1"]
)
async def test_a_loopback_url_is_refused_without_an_allow_list(
    receiver: Receiver, clients: Clients, host: str
) -> None:
    client = clients.make(policy=NO_EXCEPTIONS)

    outcome = await client.post(f"https://{host}:{receiver.port}/hook", b"{}", {})

    assert (outcome.failure, outcome.http_status) == (FailureReason.ADDRESS_REFUSED, 0)
    assert "loopback" in outcome.error
    assert receiver.requests == []


async def test_a_url_aiohttp_cannot_send_is_refused(
    receiver: Receiver, client: WebhookClient
) -> None:
    # The policy reads 127.1 as 127.0.0.1, in the allow-list; aiohttp refuses the spelling.
    outcome = await client.post(f"https://127.1:{receiver.port}/hook", b"{}", {})

    assert outcome.failure is FailureReason.ADDRESS_REFUSED
    assert receiver.requests == []


async def test_the_resolver_drops_refused_addresses() -> None:
    names = StaticResolver({"mixed.test": ["10.0.0.7", "127.0.0.1", "::1", "127.0.0.2"]})
    resolver = PolicyResolver(ALLOW_LOOPBACK, names)

    results = await resolver.resolve("mixed.test", 443, socket.AF_UNSPEC)

    assert [result["host"] for result in results] == ["127.0.0.1", "127.0.0.2"]


async def test_the_resolver_refuses_a_name_with_only_refused_addresses() -> None:
    resolver = PolicyResolver(NO_EXCEPTIONS, StaticResolver())

    with pytest.raises(RefusedAddresses) as refused:
        await resolver.resolve("localhost", 443, socket.AF_UNSPEC)

    assert (
        str(refused.value) == "localhost resolves only to refused addresses: 127.0.0.1 (loopback)"
    )


async def test_a_name_that_rebinds_to_a_refused_address_is_refused() -> None:
    # The URL check at save time resolves nothing: each lookup at send time is judged anew.
    names = StaticResolver({"rebinding.test": ["93.184.215.14"]})
    resolver = PolicyResolver(NO_EXCEPTIONS, names)
    first = await resolver.resolve("rebinding.test", 443, socket.AF_UNSPEC)
    names.names["rebinding.test"] = ["10.0.0.7"]

    with pytest.raises(RefusedAddresses) as refused:
        await resolver.resolve("rebinding.test", 443, socket.AF_UNSPEC)

    assert [result["host"] for result in first] == ["93.184.215.14"]
    assert str(refused.value) == (
        "rebinding.test resolves only to refused addresses: 10.0.0.7 (private)"
    )
    assert names.lookups == ["rebinding.test", "rebinding.test"]


async def test_a_name_resolving_to_a_refused_address_is_refused_at_send_time(
    receiver: Receiver, clients: Clients
) -> None:
    # Allowing ::1 lets localhost pass the URL check; at send time it resolves to 127.0.0.1
    # alone, which the resolver refuses.
    client = clients.make(policy=UrlPolicy(allow_networks=(IPv6Network("::1/128"),)))

    outcome = await client.post(receiver.url(), b"{}", {})

    assert outcome.failure is FailureReason.ADDRESS_REFUSED
    assert outcome.error == "localhost resolves only to refused addresses: 127.0.0.1 (loopback)"
    assert receiver.requests == []


async def test_a_name_is_sent_to_its_allowed_address(tmp_path: Path) -> None:
    names = StaticResolver({"hooks.test": ["10.0.0.7", "127.0.0.1"]})
    async with Receiver(["hooks.test"]) as hooks:
        client = WebhookClient(
            ALLOW_LOOPBACK, ca_bundle=hooks.write_ca(tmp_path / "ca.pem"), resolver=lambda: names
        )
        try:
            outcome = await client.post(f"https://hooks.test:{hooks.port}/hook", b"{}", {})
        finally:
            await client.close()

    assert outcome.http_status == 200
    assert [request.path for request in hooks.requests] == ["/hook"]
    assert names.lookups == ["hooks.test"]
