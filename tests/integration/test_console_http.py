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


async def fetch(port: int, path: str) -> tuple[int, dict[str, str], str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
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
