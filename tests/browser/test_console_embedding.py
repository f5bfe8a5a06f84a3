"""The console in a helpdesk's own settings page (docs/design.md §12.1): shown in a frame on an
origin `--console-frame-ancestors` names, refused by the browser on any other."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from playwright.async_api import Browser, expect

from deskhook.config import Settings
from deskhook.server import Tuning
from tests.support.server import running


@asynccontextmanager
async def settings_page(title: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A helpdesk's page on an origin of its own: its origin, and where to point its frame."""
    frame = {"src": "about:blank"}

    async def page(_request: web.Request) -> web.Response:
        body = f'<h1>{title}</h1><iframe title="console" src="{frame["src"]}"></iframe>'
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", frame
    finally:
        await runner.cleanup()


async def test_only_the_named_origin_may_frame_the_console(
    browser: Browser, settings: Settings, tuning: Tuning
) -> None:
    async with (
        settings_page("Helpdesk settings") as (allowed, allowed_frame),
        settings_page("Somewhere else") as (other, other_frame),
    ):
        framed = settings.model_copy(update={"console_frame_ancestors": (allowed,)})
        async with running(framed, tuning) as server:
            console = f"http://127.0.0.1:{server.console_port}/"
            allowed_frame["src"] = other_frame["src"] = console
            page = await browser.new_page()
            try:
                await page.goto(allowed)
                heading = page.frame_locator("iframe").get_by_role("heading")
                await expect(heading).to_have_text("Outgoing channel")
                # The page's load waits for its frame, refused or not.
                await page.goto(other)
                await expect(page.get_by_role("heading")).to_have_text("Somewhere else")
                refused = page.frame_locator("iframe").get_by_text("Outgoing channel")
                assert await refused.count() == 0
            finally:
                await page.close()
