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


class ConsoleEndpoint(HttpEndpoint):
    def __init__(self, api: JsonApi, limits: EndpointLimits) -> None:
        super().__init__(self._route, limits, security_headers())
        self._api = api

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        if self._api.serves(request.path):
            return await self._api.handle(request)
        raise web.HTTPNotFound()
