"""The HTTP endpoint for Prometheus and probes: GET /metrics, /livez and /readyz. It has no
authentication: `deskhook.api.http_endpoint` makes it withstand whoever reaches its port."""

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from deskhook.api.http_endpoint import EndpointLimits, Handler, HttpEndpoint


class MetricsEndpoint(HttpEndpoint):
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
        super().__init__(self._route, limits)
        self._registry = registry
        self._before_scrape = before_scrape
        self._ready = ready
        self._routes: dict[str, Handler] = {
            "/metrics": self._metrics,
            "/livez": _live,
            "/readyz": self._readyz,
        }

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
