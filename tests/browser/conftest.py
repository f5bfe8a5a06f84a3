"""Debian's Chromium, driven by Playwright, for the console's pages (docs/design.md §12). A
missing browser fails the tests rather than skipping them: scripts/test installs it."""

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "Chromium is not installed: scripts/test installs it with apt"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser, tmp_path: Path) -> AsyncIterator[Page]:
    """A page in English, its last look kept as `last.png` in the test's folder."""
    context = await browser.new_context(locale="en-US")
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await opened.screenshot(path=str(tmp_path / "last.png"), full_page=True)
        await context.close()
