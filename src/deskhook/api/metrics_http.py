"""The HTTP endpoint for Prometheus and probes: GET /metrics, /livez and /readyz.

It has no authentication, so it is built to withstand whoever reaches its port: a connection
that has not sent a request's headers within `header_timeout` is closed, past `max_connections`
open at once a new one is closed at once, and no answer names the server's software."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

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
    aiohttp's banner."""

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
        return await super().finish_response(request, resp, start_time)


class _Server(web.Server):
    """aiohttp's low-level server, making _Connections. aiohttp has no read timeout for a
    request's headers, but its keep-alive timer runs from the moment a connection opens and
    closes a connection still waiting for a whole request when it fires: that is the header
    timeout."""

    def __init__(self, handler: Handler, limits: EndpointLimits) -> None:
        super().__init__(handler)
        self._limits = limits
        # Scrapes come every few seconds: an access log line each would drown the attempts.
        self._options: dict[str, Any] = {
            "keepalive_timeout": limits.header_timeout,
            "access_log": None,
        }

    def __call__(self) -> web.RequestHandler:
        return _Connection(self, loop=asyncio.get_running_loop(), **self._options)

    def admits(self) -> bool:
        return len(self.connections) < self._limits.max_connections


class MetricsEndpoint:
    """`before_scrape` refreshes the gauges computed at scrape time; `ready` says whether the
    server takes traffic."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        before_scrape: Callable[[], Awaitable[None]],
        ready: Callable[[], bool],
        limits: EndpointLimits,
    ) -> None:
        self._registry = registry
        self._before_scrape = before_scrape
        self._ready = ready
        self._limits = limits
        self._routes: dict[str, Handler] = {
            "/metrics": self._metrics,
            "/livez": _live,
            "/readyz": self._readyz,
        }
        self._runner: web.ServerRunner | None = None

    async def start(self, address: str) -> int:
        """Listens on `address` (HOST:PORT) and returns the bound port; OSError when it
        cannot."""
        host, port = parse_host_port(address)
        runner = web.ServerRunner(
            _Server(self._route, self._limits), shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS
        )
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

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        handler = self._routes.get(request.path)
        if handler is None:
            raise web.HTTPNotFound()
        if request.method not in {hdrs.METH_GET, hdrs.METH_HEAD}:
            raise web.HTTPMethodNotAllowed(request.method, [hdrs.METH_GET, hdrs.METH_HEAD])
        return await handler(request)

    async def _metrics(self, request: web.BaseRequest) -> web.StreamResponse:
        await self._before_scrape()
        # Text format 0.0.4 unless the scraper asks for OpenMetrics.
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(self._registry), headers={"Content-Type": content_type})

    async def _readyz(self, request: web.BaseRequest) -> web.StreamResponse:
        if self._ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")


async def _live(request: web.BaseRequest) -> web.StreamResponse:
    # Answering at all shows the event loop runs.
    return web.Response(text="ok\n")
