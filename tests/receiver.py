"""A real HTTPS webhook receiver for tests: aiohttp on 127.0.0.1, port 0, with a certificate from
its own trustme CA. The test decides how it answers and sees every request that arrived."""

import asyncio
import datetime
import ssl
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import trustme
from aiohttp import web
from multidict import CIMultiDictProxy

WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one request: after `delay` seconds (to trip client timeouts),
    with this status, headers and body; or, with `disconnect`, by closing the connection."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    disconnect: bool = False


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    arrived_at: float  # time.monotonic()
    # The client's end of the TCP connection: requests with the same peer shared a connection.
    peer: tuple[str, int]


class Receiver:
    """`Receiver()` presents a certificate for localhost signed by `ca`. `hostnames` names other
    hosts instead (a wrong-host certificate); `not_after` in the past makes it expired.

    Every request is answered with the next queued `Answer`, else with the default one
    (`respond`), initially 200 with an empty body."""

    def __init__(
        self,
        hostnames: Sequence[str] = ("localhost",),
        *,
        not_after: datetime.datetime | None = None,
    ) -> None:
        self.ca = trustme.CA()
        self.requests: list[ReceivedRequest] = []
        self.port = 0
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
        # A client that gave up cancels its delayed answer, and stop() waits for no answer in
        # flight: the tests are done with them.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0
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
        self.requests.append(
            ReceivedRequest(
                method=request.method,
                path=request.path,
                headers=request.headers,
                body=await request.read(),
                arrived_at=time.monotonic(),
                peer=transport.get_extra_info("peername"),
            )
        )
        async with self._arrived:
            self._arrived.notify_all()
        await asyncio.sleep(answer.delay)
        if answer.disconnect:
            transport.close()
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)
