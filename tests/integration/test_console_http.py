"""The console's page and files on its port (docs/design.md §12): served with a policy that runs
only the console's own scripts, lets it talk only to its own port and be framed only where the
operator allowed; the page itself holds no inline script for such a policy to forbid."""

from collections.abc import AsyncIterator
from html.parser import HTMLParser

import aiohttp
import pytest

from deskhook.config import Settings
from deskhook.server import DeskhookServer, Tuning
from tests.support.server import running


class Scripts(HTMLParser):
    """The page's script elements: their src, and whether any holds code of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str | None] = []
        self.inline = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        if self._in_script:
            self.sources.append(dict(attrs).get("src"))
        # An event handler attribute is inline script too.
        self.inline |= any(name.startswith("on") for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.inline |= self._in_script and bool(data.strip())

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


async def fetch(port: int, path: str, host: str | None = None) -> tuple[int, dict[str, str], str]:
    """GET `path`, naming `host` in the Host header (the address itself by default)."""
    headers = {} if host is None else {"Host": host}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as response,
    ):
        return response.status, dict(response.headers), await response.text()


async def test_the_page_runs_only_its_own_files(server: DeskhookServer) -> None:
    status, headers, page = await fetch(server.console_port, "/")
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["Referrer-Policy"] == "no-referrer"
    scripts = Scripts()
    scripts.feed(page)
    assert scripts.sources == ["static/console.js"]
    assert not scripts.inline
    for path in ("/static/console.js", "/static/api.js", "/static/i18n.js"):
        status, headers, _ = await fetch(server.console_port, path)
        assert (status, headers["Content-Type"]) == (200, "text/javascript; charset=utf-8")


@pytest.fixture
async def framed_by(settings: Settings, tuning: Tuning) -> AsyncIterator[DeskhookServer]:
    allowed = settings.model_copy(
        update={"console_frame_ancestors": ("https://helpdesk.example.com",)}
    )
    async with running(allowed, tuning) as server:
        yield server


async def test_the_operator_names_who_may_frame_it(framed_by: DeskhookServer) -> None:
    _, headers, _ = await fetch(framed_by.console_port, "/")
    assert headers["Content-Security-Policy"].endswith(
        "frame-ancestors https://helpdesk.example.com"
    )


@pytest.mark.parametrize("path", ["/static/", "/static/../config.py", "/index.htm", "/.env"])
async def test_nothing_else_is_served(server: DeskhookServer, path: str) -> None:
    status, _, _ = await fetch(server.console_port, path)
    assert status == 404


@pytest.fixture
async def without_tokens(settings: Settings, tuning: Tuning) -> AsyncIterator[DeskhookServer]:
    open_settings = settings.model_copy(update={"admin_tokens": (), "ingest_tokens": ()})
    async with running(open_settings, tuning) as server:
        yield server


LOOPBACK_NAMES = ["localhost", "LOCALHOST:8080", "127.0.0.1:8080", "127.7.7.7", "[::1]:8080"]
# Browsers send 0.0.0.0 to this machine too, but it is no loopback address.
OTHER_NAMES = [
    "rebound.example:8080",
    "10.0.0.1:8080",
    "localhost.example.com",
    "0.0.0.0",  # noqa: S104
    # A Host that does not parse, and one 5,000 characters long.
    "127.0.0.1:99999",
    "a" * 5000,
]


@pytest.mark.parametrize("host", LOOPBACK_NAMES)
async def test_without_tokens_loopback_names_are_answered(
    without_tokens: DeskhookServer, host: str
) -> None:
    status, _, _ = await fetch(without_tokens.console_port, "/", host)
    assert status == 200


@pytest.mark.parametrize("path", ["/", "/deskhook.v1.ChannelAdmin/ListChannels"])
@pytest.mark.parametrize("host", OTHER_NAMES)
async def test_without_tokens_another_name_is_refused(
    without_tokens: DeskhookServer, host: str, path: str
) -> None:
    """A page whose own name was re-pointed at 127.0.0.1 (DNS rebinding) would otherwise run
    the open JSON API from the operator's browser."""
    status, _, body = await fetch(without_tokens.console_port, path, host)
    assert status == 403
    assert "loopback" in body


async def test_with_tokens_any_name_is_answered(server: DeskhookServer) -> None:
    """Behind a proxy or on a public name: a rebound page holds no token to send."""
    status, _, _ = await fetch(server.console_port, "/", "console.helpdesk.example:443")
    assert status == 200
