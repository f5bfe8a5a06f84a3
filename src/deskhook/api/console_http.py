"""The console's port (docs/design.md §12): the console's page and its static files, and the
JSON API, behind the hardened HTTP endpoint. Every answer keeps browsers from sending its
address anywhere, from guessing types and from framing it where the operator did not allow;
the page may run only the console's own scripts and talk only to this port."""

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Final

from aiohttp import hdrs, web

from deskhook.api.auth import is_loopback_host
from deskhook.api.http_endpoint import EndpointLimits, HttpEndpoint
from deskhook.api.json_api import JsonApi

# The console's files, by the path the page asks for, with their types.
FILES: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/static/api.js": ("api.js", "text/javascript; charset=utf-8"),
    "/static/i18n.js": ("i18n.js", "text/javascript; charset=utf-8"),
    "/static/console.css": ("console.css", "text/css; charset=utf-8"),
}


def content_security_policy(frame_ancestors: Sequence[str]) -> str:
    """No inline script or style, nothing from elsewhere, no form sent anywhere (a token typed
    into a form that JavaScript did not take would otherwise ride in a URL), and framed only
    by the origins the operator named."""
    ancestors = " ".join(frame_ancestors) or "'none'"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
        f" img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    )


def security_headers(frame_ancestors: Sequence[str]) -> Mapping[str, str]:
    return {
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": content_security_policy(frame_ancestors),
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


class ConsoleEndpoint(HttpEndpoint):
    """`loopback_names_only` is for a server without tokens, open to whoever reaches the port:
    a page elsewhere whose name its DNS re-points at 127.0.0.1 (DNS rebinding) reaches it
    too, under its own name in `Host`, so only loopback names are answered then."""

    def __init__(
        self,
        api: JsonApi,
        limits: EndpointLimits,
        frame_ancestors: Sequence[str] = (),
        *,
        loopback_names_only: bool,
    ) -> None:
        super().__init__(self._route, limits, security_headers(frame_ancestors))
        self._api = api
        self._loopback_names_only = loopback_names_only
        folder = resources.files("deskhook.console")
        self._files = {
            path: (folder.joinpath(name).read_bytes(), content_type)
            for path, (name, content_type) in FILES.items()
        }

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        if self._loopback_names_only and not is_loopback_host(_host(request)):
            raise web.HTTPForbidden(
                text="without tokens, the console answers only to localhost and loopback"
                " addresses\n"
            )
        if self._api.serves(request.path):
            return await self._api.handle(request)
        if request.path not in self._files:
            raise web.HTTPNotFound()
        if request.method not in {hdrs.METH_GET, hdrs.METH_HEAD}:
            raise web.HTTPMethodNotAllowed(request.method, [hdrs.METH_GET, hdrs.METH_HEAD])
        body, content_type = self._files[request.path]
        return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})


def _host(request: web.BaseRequest) -> str:
    """The host the request names; empty when its Host header does not parse (a port past
    65535), which no loopback name is."""
    try:
        return request.url.host or ""
    except ValueError:
        return ""
