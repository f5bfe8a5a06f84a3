"""The HTTP endpoint for Prometheus and probes: GET /metrics, /livez and /readyz."""

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from deskhook.config import parse_host_port

# A scrape or probe still running when the endpoint stops gets this long to finish.
SHUTDOWN_TIMEOUT_SECONDS = 1.0


class MetricsEndpoint:
    """`before_scrape` refreshes the gauges computed at scrape time; `ready` says whether the
    server takes traffic."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        before_scrape: Callable[[], Awaitable[None]],
        ready: Callable[[], bool],
    ) -> None:
        self._registry = registry
        self._before_scrape = before_scrape
        self._ready = ready
        self._runner: web.AppRunner | None = None

    async def start(self, address: str) -> int:
        """Listens on `address` (HOST:PORT) and returns the bound port; OSError when it
        cannot."""
        host, port = parse_host_port(address)
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/livez", _live)
        app.router.add_get("/readyz", self._readyz)
        # Scrapes come every few seconds: an access log line each would drown the attempts.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
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

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._before_scrape()
        # Text format 0.0.4 unless the scraper asks for OpenMetrics.
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(self._registry), headers={"Content-Type": content_type})

    async def _readyz(self, request: web.Request) -> web.Response:
        if self._ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")


async def _live(request: web.Request) -> web.Response:
    # Answering at all shows the event loop runs.
    return web.Response(text="ok\n")
