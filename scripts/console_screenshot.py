#!/usr/bin/env python3
"""The README's picture of the console (docs/console.png): a server on a temporary database, the
demo's verifying receiver, a channel, two sample tickets' events delivered (the receiver refuses
one attempt, which is retried), and the channel's webhook log in Debian's Chromium.

    .venv/bin/python scripts/console_screenshot.py [--output docs/console.png] [--language en]

Everything listens on 127.0.0.1 and stops by itself once the picture is taken."""

import argparse
import asyncio
import secrets
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

from playwright.async_api import async_playwright

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.demo.receiver import VerifyingReceiver
from deskhook.demo.samples import SUPPORT_ID, sample_events
from deskhook.server import DeskhookServer
from deskhook.v1 import (
    channel_admin_pb2,
    channel_admin_pb2_grpc,
    channel_pb2,
    event_ingest_pb2,
    event_ingest_pb2_grpc,
)

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 30.0


async def picture(output: Path, language: str) -> None:
    token = secrets.token_urlsafe(24)
    receiver = VerifyingReceiver(stumble_on="ticket_comment")
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            listen="127.0.0.1:0",
            metrics_listen="",
            console_listen="127.0.0.1:0",
            database=str(Path(directory) / "deskhook.db"),
            admin_tokens=(token,),
            ingest_tokens=(token,),
            allow_http=True,
            allow_networks=(ip_network("127.0.0.0/8"),),
        )
        server = DeskhookServer(settings)
        await receiver.start()
        await server.start()
        try:
            async with open_channel(f"127.0.0.1:{server.port}", token) as channel:
                admin = channel_admin_pb2_grpc.ChannelAdminStub(channel)
                created = await admin.CreateChannel(
                    channel_admin_pb2.CreateChannelRequest(
                        channel=channel_pb2.Channel(
                            name="CRM",
                            url=receiver.url,
                            department_id=SUPPORT_ID,
                            subscriptions=list(range(1, 13)),  # type: ignore[arg-type]
                            retries_enabled=True,
                        )
                    )
                )
                receiver.trust(created.signing_secret)
                ingest = event_ingest_pb2_grpc.EventIngestStub(channel)
                events = sample_events(2, datetime.now(UTC), timedelta(0))
                for event in events:
                    await ingest.PublishEvent(event_ingest_pb2.PublishEventRequest(event=event))
            async with asyncio.timeout(WAIT_SECONDS):
                # The demo's receiver counts what it verified; it has nothing to await.
                while sum(len(ids) for ids in receiver.verified.values()) < len(events):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            await shoot(server.console_port, token, created.channel.name, output, language)
        finally:
            await server.stop(grace=0)
            await receiver.stop()


async def shoot(port: int, token: str, channel: str, output: Path, language: str) -> None:
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        page = await browser.new_page(
            locale=language, viewport={"width": 1280, "height": 900}, device_scale_factor=1
        )
        await page.goto(f"http://127.0.0.1:{port}/#token={token}")
        await page.get_by_role("button", name=channel).click()
        await page.locator("#status-line").wait_for()
        await page.locator("main button").first.click()  # the webhook log
        await page.locator("#log tbody tr").first.wait_for()
        await page.screenshot(path=str(output))
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "console.png")
    parser.add_argument("--language", default="en", choices=["en", "ru"])
    args = parser.parse_args()
    asyncio.run(picture(args.output, args.language))
    print(args.output)


if __name__ == "__main__":
    main()
