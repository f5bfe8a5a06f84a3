"""A real HTTPS webhook receiver for tests: aiohttp on 127.0.0.1, port 0, with a certificate from
its own trustme CA. The test decides how it answers and sees every request that arrived."""

import asyncio
import datetime
import itertools
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Self

import trustme
from aiohttp import web
from multidict import CIMultiDictProxy

WAIT_SECONDS = 10.0
# Between two bytes of a trickled answer: a few dozen bytes outlast any test's timeout.
TRICKLE_PAUSE = 0.05


class Trickle(Enum):
    """The part of an answer sent one byte at a time, TRICKLE_PAUSE apart."""

    HEADERS = "headers"  # from the status line on
    BODY = "body"  # after the status line and headers, sent at once


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one request: after `delay` seconds (to trip client timeouts),
    with this status, headers and body; or, with `disconnect`, by closing the connection, and
    with `reset`, by resetting it (TCP RST).

    The body is `body` repeated `repeat` times, written only as fast as the client reads it,
    so a huge body is never held in memory. `cut_at` sends the headers, announcing the whole
    body, and only that many bytes of it before closing the connection; `trickle` sends part
    of the answer byte by byte."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    disconnect: bool = False
    reset: bool = False
    repeat: int = 1
    cut_at: int | None = None
    trickle: Trickle | None = None


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    arrived_at: float  # time.monotonic()
    # The client's end of the TCP connection: requests with the same peer shared a connection.
    peer: tuple[str, int]
    # When the receiver was done with it: its answer handed to aiohttp, or the client gone
    # before that. None while it is still being answered. [arrived_at, ended_at] is when the
    # request was in flight, as the receiver saw it.
    ended_at: float | None = None


def most_at_once(requests: Sequence[ReceivedRequest]) -> int:
    """The most of `requests` in flight at one moment, as the receiver saw them; one still
    being answered is in flight until now."""
    arrivals = [(request.arrived_at, 1) for request in requests]
    # At the same moment, an end comes before an arrival: the two did not overlap.
    ends = [(request.ended_at, -1) for request in requests if request.ended_at is not None]
    most = in_flight = 0
    for _, change in sorted(arrivals + ends):
        in_flight += change
        most = max(most, in_flight)
    return most


class Receiver:
    """`Receiver()` presents a certificate for localhost signed by `ca`, its own CA unless one
    is given (another receiver's, which a client already trusts). `hostnames` names other hosts
    instead (a wrong-host certificate); `not_after` in the past makes it expired.

    Every request is answered with the next queued `Answer`, else with the default one
    (`respond`), initially 200 with an empty body."""

    def __init__(
        self,
        hostnames: Sequence[str] = ("localhost",),
        *,
        not_after: datetime.datetime | None = None,
        ca: trustme.CA | None = None,
    ) -> None:
        self.ca = ca or trustme.CA()
        self.requests: list[ReceivedRequest] = []
        self.port = 0
        # Body bytes handed to the connection by answers written piece by piece (repeated,
        # cut or trickled): how much of a huge body got out before its client hung up.
        self.body_bytes_written = 0
        self._certificate = self.ca.issue_cert(*hostnames, not_after=not_after)
        self._default = Answer()
        self._by_path: dict[str, Answer] = {}
        self._queued: deque[Answer] = deque()
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "/hook") -> str:
        return f"https://localhost:{self.port}{path}"

    def write_ca(self, path: Path) -> Path:
        """Writes the CA certificate as PEM to `path`, for a client's CA bundle."""
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def respond(self, answer: Answer) -> None:
        """Answers with `answer` from now on, once the queued answers are used up."""
        self._default = answer

    def respond_at(self, path: str, answer: Answer) -> None:
        """Answers every request to `path` with `answer`, before queued and default answers:
        one receiver can then play a healthy and a failing endpoint."""
        self._by_path[path] = answer

    def queue(self, *answers: Answer) -> None:
        """Answers the next requests with `answers`, one each, in order."""
        self._queued.extend(answers)

    async def wait_for_requests(self, count: int) -> list[ReceivedRequest]:
        """The first `count` requests, once they have arrived. Gives up with TimeoutError after
        WAIT_SECONDS, so that a test waiting for a request that never comes fails instead of
        hanging; wrap the call in `asyncio.timeout` to wait less."""
        async with asyncio.timeout(WAIT_SECONDS), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests[:count]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        # A client that gave up cancels its delayed answer, and stop() barely waits for answers
        # in flight: the tests are done with them. (0 would mean no limit at all.)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.1
        )
        await self._runner.setup()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._certificate.configure_cert(tls)
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        answer = self._by_path.get(request.path) or (
            self._queued.popleft() if self._queued else self._default
        )
        transport = request.transport
        assert transport is not None
        received = ReceivedRequest(
            method=request.method,
            path=request.path,
            headers=request.headers,
            body=await request.read(),
            arrived_at=time.monotonic(),
            peer=transport.get_extra_info("peername"),
        )
        self.requests.append(received)
        async with self._arrived:
            self._arrived.notify_all()
        try:
            return await self._answer(request, transport, answer)
        finally:
            # Also when the client hung up: aiohttp then cancels the answer under way.
            received.ended_at = time.monotonic()

    async def _answer(
        self, request: web.Request, transport: asyncio.Transport, answer: Answer
    ) -> web.StreamResponse:
        await asyncio.sleep(answer.delay)
        if answer.disconnect:
            transport.close()
        elif answer.reset:
            _reset(transport)
        elif answer.trickle is Trickle.HEADERS:
            await _trickle_whole_answer(transport, answer)
        elif answer.repeat != 1 or answer.cut_at is not None or answer.trickle is Trickle.BODY:
            return await self._write_in_pieces(request, transport, answer)
        # Where a branch above closed the connection, aiohttp finds it closed and sends nothing.
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    async def _write_in_pieces(
        self, request: web.Request, transport: asyncio.Transport, answer: Answer
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        response.content_length = len(answer.body) * answer.repeat
        await response.prepare(request)
        for piece in _body_pieces(answer):
            # Waits while the client is not reading: a body it stops reading stops here.
            await response.write(piece)
            self.body_bytes_written += len(piece)
            if answer.trickle is Trickle.BODY:
                await asyncio.sleep(TRICKLE_PAUSE)
        if answer.cut_at is None:
            await response.write_eof()
        else:
            transport.close()
        return response


def _body_pieces(answer: Answer) -> Iterator[bytes]:
    if answer.cut_at is not None:
        yield (answer.body * answer.repeat)[: answer.cut_at]
    elif answer.trickle is Trickle.BODY:
        yield from (bytes([byte]) for byte in answer.body * answer.repeat)
    else:
        yield from itertools.repeat(answer.body, answer.repeat)


def _reset(transport: asyncio.Transport) -> None:
    # A zero linger time makes closing the socket send RST rather than FIN.
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _trickle_whole_answer(transport: asyncio.Transport, answer: Answer) -> None:
    """Writes the answer by hand, status line and headers one byte at a time: aiohttp sends
    its headers in one piece."""
    lines = [
        f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}",
        *(f"{name}: {value}" for name, value in answer.headers.items()),
        f"Content-Length: {len(answer.body) * answer.repeat}",
        "Connection: close",
    ]
    for byte in ("\r\n".join(lines) + "\r\n\r\n").encode():
        transport.write(bytes([byte]))
        await asyncio.sleep(TRICKLE_PAUSE)
    transport.write(answer.body * answer.repeat)
    transport.close()
