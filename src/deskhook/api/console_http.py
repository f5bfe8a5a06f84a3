"""The console's port (docs/design.md §12): the JSON API, behind the hardened HTTP endpoint,
with headers that keep browsers from sending its pages' addresses anywhere, from guessing
types, and from framing it where the operator did not allow."""

from collections.abc import Mapping

from aiohttp import web

from deskhook.api.http_endpoint import EndpointLimits, HttpEndpoint
from deskhook.api.json_api import JsonApi


def security_headers() -> Mapping[str, str]:
    return {
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        "Cache-Control": "no-store",
    }


class ConsoleEndpoint:
    def __init__(self, api: JsonApi, limits: EndpointLimits) -> None:
        self._api = api
        self._endpoint = HttpEndpoint(self._route, limits, security_headers())

    async def start(self, address: str) -> int:
        """Listens on `address` (HOST:PORT) and returns the bound port; OSError when it
        cannot."""
        return await self._endpoint.start(address)

    async def stop(self) -> None:
        await self._endpoint.stop()

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        if self._api.serves(request.path):
            return await self._api.handle(request)
        raise web.HTTPNotFound()
