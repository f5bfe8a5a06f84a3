"""Debian's Chromium, driven by Playwright, for the console's pages (docs/design.md §12). A
missing browser fails the tests rather than skipping them: scripts/test installs it."""

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright


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
