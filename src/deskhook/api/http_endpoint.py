"""An HTTP endpoint built to withstand whoever reaches its port (the metrics endpoint has no
authentication, the console's is reached by browsers): a connection that has not sent a
request's headers within `header_timeout` is closed, past `max_connections` open at once a new
one is closed at once, no answer names the server's software, and every answer carries the
endpoint's own headers."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import hdrs, web

from deskhook.config import parse_host_port

# A scrape or probe still running when the endpoint stops gets this long to finish.
SHUTDOWN_TIMEOUT_SECONDS = 1.0
# Instead of aiohttp's "Python/3.x aiohttp/3.y": versions tell an attacker what to try.
SERVER_HEADER: Final = "deskhook"

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class EndpointLimits:
    """What clients can hold of the endpoint (tests shorten them)."""

    # Seconds a connection has to send a request's headers, from when it opened or from the
    # end of its previous answer (so also how long an idle keep-alive connection stays).
    header_timeout: float = 10.0
    # Connections open at once; Prometheus and probes need a handful.
    max_connections: int = 64


class _Connection(web.RequestHandler):
    """One HTTP connection: closed at once when the endpoint is full, and answered without
    aiohttp's banner, with the endpoint's headers."""

    def __init__(self, server: "_Server", **options: Any) -> None:
        super().__init__(server, **options)
        self._endpoint = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._endpoint.admits():
            # Closed before aiohttp takes it up: it holds its socket only until the close.
            transport.close()
            return
        super().connection_made(transport)

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        # Every answer passes here, aiohttp's own (400 for a malformed request) included.
        resp.headers[hdrs.SERVER] = SERVER_HEADER
        resp.headers.update(self._endpoint.headers)
        return await super().finish_response(request, resp, start_time)


class _Server(web.Server):
    """aiohttp's low-level server, making _Connections. aiohttp has no read timeout for a
    request's headers, but its keep-alive timer runs from the moment a connection opens and
    closes a connection still waiting for a whole request when it fires: that is the header
    timeout."""

    def __init__(
        self, handler: Handler, limits: EndpointLimits, headers: Mapping[str, str]
    ) -> None:
        super().__init__(handler)
        self._limits = limits
        self.headers = headers
        # Scrapes come every few seconds: an access log line each would drown the attempts.
        self._options: dict[str, Any] = {
            "keepalive_timeout": limits.header_timeout,
            "access_log": None,
        }

    def __call__(self) -> web.RequestHandler:
        return _Connection(self, loop=asyncio.get_running_loop(), **self._options)

    def admits(self) -> bool:
        return len(self.connections) < self._limits.max_connections


class HttpEndpoint:
    """`handler` on an address of its own, from `start` until `stop`."""

    def __init__(
        self, handler: Handler, limits: EndpointLimits, headers: Mapping[str, str] | None = None
    ) -> None:
        self._server = _Server(handler, limits, headers or {})
        self._runner: web.ServerRunner | None = None

    async def start(self, address: str) -> int:
        """Listens on `address` (HOST:PORT) and returns the bound port; OSError when it
        cannot."""
        host, port = parse_host_port(address)
        runner = web.ServerRunner(self._server, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        bound: int = runner.addresses[0][1]
        return bound

    async def stop(self) -> None:
        # Taken before the await: a second stop() meanwhile finds nothing left to clean up.
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
