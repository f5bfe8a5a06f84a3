#!/usr/bin/env python3
"""The console's two figures (docs/design.md §12), on one server (`deskhook serve`, SQLite) and
the benchmarks' HTTPS receiver, in one run:

a. The webhook log page of a channel with --entries (100,000) attempts in its log: the page's
   request (ListDeliveryLog, 50 entries, over the JSON API) timed --loads (50) times, p95 under
   300 ms; the baseline is the same page of a channel with one entry, in the same run. Timed
   from the client on loopback: the server's time and the connection's, an upper bound.
b. The live view: the log page of a fresh channel open in Debian's Chromium while --rate (200)
   events/s are published to it for --seconds (10); every attempt must show up as a row, none
   dropped or skipped.

    .venv/bin/python scripts/bench_console.py [--entries 100000] [--loads 50] [--rate 200]
        [--seconds 10] [--quick] [--results FILE]

Bounded: every wait gives up after a bound, and the server and the receiver stop at the end."""

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import uvloop
from playwright.async_api import Page, async_playwright, expect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' sample event and the server's flags
from benchkit.figures import Figure, bench_parser, conclude, percentile, spread, verdict  # noqa: E402
from benchkit.load import create_channel, publish, publish_paced  # noqa: E402
from benchkit.processes import serve_command, spawn, stop_server, wait_listening  # noqa: E402
from benchkit.receiver import ReceiverProcess, receiving  # noqa: E402

from tests.support.events import make_event  # noqa: E402
from tests.support.serve_process import delivery_flags  # noqa: E402

TOKEN = "bench-token"
PAGE_TARGET_MS = 300.0
PAGE_SIZE = 50
# How long the backlog may take to be delivered, per 1,000 entries, and the live rows to show.
SECONDS_PER_1000 = 10.0
SETTLE_SECONDS = 30.0
MAX_ENTRIES, MAX_LOADS, MAX_RATE, MAX_SECONDS = 1_000_000, 1000, 1000.0, 60.0
# The channels, by name, with their departments: each event matches one of them.
DEPARTMENTS = {"full": 7, "small": 9, "live": 8}


@dataclass(frozen=True)
class Options:
    entries: int
    loads: int
    rate: float
    seconds: float


@dataclass(frozen=True)
class Result:
    options: Options
    full: list[float]  # seconds per load of the page of the channel with `entries`
    small: list[float]  # the same, of the channel with one entry
    attempts: int  # attempts made while the browser watched
    rows: int  # rows the browser showed
    skipped: int  # entries the server told the browser it skipped

    @property
    def page_ok(self) -> bool:
        return percentile(self.full, 0.95) * 1000 < PAGE_TARGET_MS

    @property
    def live_ok(self) -> bool:
        return self.rows == self.attempts and not self.skipped

    @property
    def ok(self) -> bool:
        return self.rows == self.attempts

    def figures(self) -> list[Figure]:
        o = self.options
        p95 = percentile(self.full, 0.95) * 1000
        small = percentile(self.small, 0.95) * 1000
        return [
            Figure(
                "console",
                f"webhook log page of a channel with {o.entries:,} entries: p95 of {o.loads}",
                p95,
                "ms",
                "the page of a channel with 1 entry",
                small,
                f"< {PAGE_TARGET_MS:g} ms",
                verdict(self.page_ok),
            ),
            Figure(
                "console",
                f"live view at {o.rate:g} attempts/s for {o.seconds:g} s: rows shown",
                self.rows,
                "rows",
                "attempts made",
                self.attempts,
                "every attempt, none skipped",
                verdict(self.live_ok),
            ),
        ]

    def lines(self) -> list[str]:
        o = self.options
        return [
            f"log page, {o.entries:,} entries   {spread(self.full)}",
            f"log page, 1 entry          {spread(self.small)}",
            f"p95 {percentile(self.full, 0.95) * 1000:.1f} ms   {verdict(self.page_ok)} the"
            f" < {PAGE_TARGET_MS:g} ms target",
            f"live view: {self.rows:,} rows of {self.attempts:,} attempts, {self.skipped} skipped"
            f"   {verdict(self.live_ok)}",
            "verdict: " + ("ok" if self.ok else "FAILED: rows missing from the live view"),
        ]


async def time_pages(console: str, channel_id: str, loads: int) -> list[float]:
    """Seconds for each of `loads` loads of the channel's first log page."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    request = {"channelId": channel_id, "pageSize": PAGE_SIZE}
    times = []
    async with aiohttp.ClientSession(console) as session:
        for _ in range(loads):
            started = time.perf_counter()
            async with session.post(
                "deskhook.v1.ChannelAdmin/ListDeliveryLog", json=request, headers=headers
            ) as response:
                body = await response.json()
            times.append(time.perf_counter() - started)
            if response.status != 200 or not body.get("entries"):
                raise SystemExit(f"the log page failed: {response.status} {body}")
    return times


async def watch_live(
    page: Page, *, console: str, name: str, receiver: ReceiverProcess, target: str, o: Options
) -> tuple[int, int, int]:
    """Attempts made, rows shown and entries skipped while the page showed the live log."""
    await page.goto(f"{console}#token={TOKEN}")
    await page.get_by_role("button", name=name).click()
    await page.locator("#status-line").wait_for()
    await page.locator("main button").first.click()  # the webhook log
    await page.get_by_text("Live: new attempts appear as they happen.").wait_for()
    before = (await receiver.ask("stats"))["count"]
    count = int(o.rate * o.seconds)
    _, acked = await publish_paced(
        target, TOKEN, [make_event("template", department_id=DEPARTMENTS[name])], count=count,
        rate=o.rate, prefix="live",
    )  # fmt: skip
    await receiver.wait_for(before + len(acked), SETTLE_SECONDS)
    rows = page.locator("#log tbody tr:not([hidden])")
    # Counted below whether they all came or not.
    with contextlib.suppress(AssertionError):
        await expect(rows).to_have_count(len(acked), timeout=SETTLE_SECONDS * 1000)
    skipped = await page.locator("#skipped").count()
    return len(acked), await rows.count(), skipped


async def measure(scratch: Path, options: Options) -> Result:
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    async with receiving(scratch) as (receiver, ca):
        log = scratch / "deskhook.log"
        flags = [*delivery_flags(TOKEN, TOKEN, ca), "--console-listen", "127.0.0.1:0"]
        server = spawn(serve_command(scratch / "deskhook.db", *flags), log)
        try:
            target = f"127.0.0.1:{await asyncio.to_thread(wait_listening, server, log)}"
            console = f"http://127.0.0.1:{console_port(log)}/"
            for name, department in DEPARTMENTS.items():
                path = f"/{name}"
                secret = await create_channel(
                    target, TOKEN, receiver.base + path, 10, department_id=department, name=name
                )
                await receiver.ask("secret", secret=secret, path=path)
            ids = await channel_ids(console)
            await publish(
                target, TOKEN, [make_event("template", department_id=DEPARTMENTS["small"])],
                count=1, per_message=1, prefix="small",
            )  # fmt: skip
            bound = SETTLE_SECONDS + options.entries / 1000 * SECONDS_PER_1000
            async with asyncio.timeout(bound):
                await publish(
                    target, TOKEN, [make_event("template", department_id=DEPARTMENTS["full"])],
                    count=options.entries, per_message=500, prefix="full",
                )  # fmt: skip
            await receiver.wait_for(options.entries + 1, bound)
            full = await time_pages(console, ids["full"], options.loads)
            small = await time_pages(console, ids["small"], options.loads)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=executable)
                try:
                    page = await browser.new_page(locale="en-US")
                    attempts, rows, skipped = await watch_live(
                        page, console=console, name="live", receiver=receiver, target=target,
                        o=options,
                    )  # fmt: skip
                finally:
                    await browser.close()
        finally:
            await asyncio.to_thread(stop_server, server, log)
    return Result(options, full, small, attempts, rows, skipped)


def console_port(log: Path) -> int:
    for line in log.read_text().splitlines():
        if '"listening"' in line:
            return int(json.loads(line)["console_port"])
    raise SystemExit("the server did not say where its console listens")


async def channel_ids(console: str) -> dict[str, str]:
    """Each channel's id by its name, over the JSON API."""
    async with (
        aiohttp.ClientSession(console) as session,
        session.post(
            "deskhook.v1.ChannelAdmin/ListChannels",
            json={},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        listed = await response.json()
    return {channel["name"]: channel["id"] for channel in listed["channels"]}


async def main(options: Options, results: Path | None) -> int:
    print(
        f"console: the log page of a channel with {options.entries:,} entries, {options.loads}"
        f" loads; the live view at {options.rate:g} attempts/s for {options.seconds:g} s;"
        f" {os.cpu_count()} cores",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as scratch:
        result = await measure(Path(scratch), options)
    return conclude(result.lines(), result.figures(), results, result.ok)


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    add = parser.add_argument
    add("--entries", type=int, default=100_000, help="attempts in the big channel's log")
    add("--loads", type=int, default=50, help="loads of each log page timed")
    add("--rate", type=float, default=200, help="attempts per second in the live view")
    add("--seconds", type=float, default=10, help="how long the live view is fed")
    add("--quick", action="store_true", help="small sizes, a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.entries, args.loads, args.seconds = 1_000, 10, 2
    if not (
        1 <= args.entries <= MAX_ENTRIES
        and 1 <= args.loads <= MAX_LOADS
        and 0 < args.rate <= MAX_RATE
        and 1 / args.rate <= args.seconds <= MAX_SECONDS
    ):
        parser.error(
            f"--entries must be from 1 to {MAX_ENTRIES:,}, --loads from 1 to {MAX_LOADS},"
            f" --rate in (0, {MAX_RATE:g}] and --seconds up to {MAX_SECONDS:g}"
        )
    options = Options(args.entries, args.loads, args.rate, args.seconds)
    sys.exit(uvloop.run(main(options, args.results)))
