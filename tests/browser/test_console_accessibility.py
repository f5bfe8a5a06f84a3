"""Every page of the console through axe-core (tests/browser/package.json): no serious or
critical violation; and the sign-in works by keyboard alone."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.server import DeskhookServer
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.channels import add_channel
from tests.support.events import make_event
from tests.support.receiver import Receiver
from tests.support.server import ADMIN_TOKEN, AdminStub, IngestStub

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    # axe is injected as a script of the test's own, which the console's policy would refuse.
    context = await browser.new_context(locale="en-US", bypass_csp=True)
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()


async def violations(page: Page) -> list[str]:
    """The serious and critical axe violations on the page as it is now."""
    assert AXE.is_file(), "axe-core is missing: scripts/test installs tests/browser's packages"
    await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(
        "async () => (await axe.run(document)).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


async def test_every_page_has_no_serious_violation(
    page: Page,
    server: DeskhookServer,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
) -> None:
    await add_channel(admin, receiver, name="crm")
    await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=make_event("evt-a11y")))
    await scheduler.drain()
    found: dict[str, list[str]] = {}
    await page.goto(f"http://127.0.0.1:{server.console_port}/")
    found["sign-in"] = await violations(page)
    await page.get_by_label("Token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("table#channels")).to_be_visible()
    found["channels"] = await violations(page)
    await page.get_by_role("button", name="Add channel").click()
    found["form"] = await violations(page)
    await page.get_by_role("button", name="Cancel").click()
    await page.get_by_role("button", name="crm").click()
    await expect(page.get_by_role("status")).to_be_visible()
    found["channel"] = await violations(page)
    await page.get_by_role("button", name="Webhook log").click()
    await page.locator("#log tbody tr").first.get_by_role("button", name="Details").click()
    found["log"] = await violations(page)
    assert found == {name: [] for name in found}


async def test_signing_in_works_by_keyboard_alone(page: Page, server: DeskhookServer) -> None:
    await page.goto(f"http://127.0.0.1:{server.console_port}/")
    # The token field has the focus on arrival.
    await page.keyboard.type(ADMIN_TOKEN)
    await page.keyboard.press("Enter")
    await expect(page.locator("#no-channels")).to_be_visible()
    # A new view starts at its heading; an operator's next stops are the account picker and
    # the first button.
    await expect(page.get_by_role("heading", name="Channels")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Account")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Add channel")).to_be_focused()
    # The form starts at its first field.
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Department", exact=True)).to_be_focused()
