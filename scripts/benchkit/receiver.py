"""The benchmarks' webhook receiver: aiohttp over TLS in a process of its own, verifying every
signature with `standardwebhooks`, driven over its stdin and stdout with one JSON line per
command. Arrival times are CLOCK_MONOTONIC, system-wide on Linux, so the benchmark compares
them with its own readings directly.

Run as a script (by `ReceiverProcess.start`), it imports nothing from benchkit: it is started
by path, outside the package."""

import asyncio
import contextlib
import json
import ssl
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
import uvloop
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

# A request is held at most this long in hold mode; a benchmark kills its server long before.
HOLD_SECONDS = 120.0
CONNECTION_TEST = "connection_test"


@dataclass
class ReceiverState:
    """What arrived: the first arrival of each event id, in CLOCK_MONOTONIC seconds. Each path
    checks signatures with the secret of its own channel."""

    webhooks: dict[str, Webhook] = field(default_factory=dict)
    # Set while holding: requests wait for it (bounded) and are not counted.
    release: asyncio.Event | None = None
    arrivals: dict[str, float] = field(default_factory=dict)
    first: float = 0.0
    last: float = 0.0
    duplicates: int = 0
    rejected: int = 0
    held: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.monotonic()
        # The connection test is signed with a secret CreateChannel has not returned yet.
        if request.headers.get("x-deskhook-event-type") == CONNECTION_TEST:
            return web.Response()
        if self.release is not None:
            self.held += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), HOLD_SECONDS)
            return web.Response(status=503)
        try:
            if (webhook := self.webhooks.get(request.path)) is None:
                raise WebhookVerificationError("no secret yet")  # noqa: TRY301 - same answer
            event_id = webhook.verify(body, dict(request.headers))["event_id"]
        except WebhookVerificationError:
            self.rejected += 1
            return web.Response(status=400)
        if event_id in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[event_id] = arrived
            self.first = self.first or arrived
            self.last = arrived
        return web.Response()

    def command(self, request: dict[str, Any]) -> dict[str, Any]:
        match request["op"]:
            case "secret":
                self.webhooks[request.get("path", "/hook")] = Webhook(request["secret"])
            case "hold":
                self.release = asyncio.Event()
            case "answer":
                if self.release is not None:
                    self.release.set()
                self.release = None
            case "reset":
                self.arrivals = {}
                self.first = self.last = 0.0
                self.duplicates = self.rejected = self.held = 0
            case "dump":
                prefix = request["prefix"]
                arrivals = {k: v for k, v in self.arrivals.items() if k.startswith(prefix)}
                Path(request["path"]).write_text(json.dumps(arrivals))
        return {
            "count": len(self.arrivals),
            "first": self.first,
            "last": self.last,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "held": self.held,
        }


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve(certificate: str) -> None:
    state = ReceiverState()
    app = web.Application()
    app.router.add_post("/{path:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0)
    await runner.setup()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificate)
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls).start()
    reply({"port": runner.addresses[0][1]})
    commands = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(commands), sys.stdin
    )
    # Runs until the benchmark closes stdin (or dies).
    while line := await commands.readline():
        reply(state.command(json.loads(line)))
    await runner.cleanup()


class ReceiverProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        if process.stdin is None or process.stdout is None:
            raise ValueError("the receiver is driven over its stdin and stdout")
        self.process = process
        # Every path is a webhook endpoint; `url` is the one at /hook.
        self.base = self.url = ""
        self._commands, self._replies = process.stdin, process.stdout

    @classmethod
    async def start(cls, certificate: Path, log: Path) -> "ReceiverProcess":
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                str(certificate),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=sink,
            )
        started = cls(process)
        started.base = f"https://localhost:{(await started._read())['port']}"
        started.url = f"{started.base}/hook"
        return started

    async def _read(self) -> dict[str, Any]:
        async with asyncio.timeout(30):
            line = await self._replies.readline()
        if not line:
            raise SystemExit("the receiver exited")
        result: dict[str, Any] = json.loads(line)
        return result

    async def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        self._commands.write(json.dumps({"op": op, **fields}).encode() + b"\n")
        await self._commands.drain()
        return await self._read()

    async def wait_for(self, count: int, seconds: float) -> dict[str, Any]:
        """Stats once `count` events have arrived; gives up after `seconds`."""
        deadline = time.monotonic() + seconds
        while (stats := await self.ask("stats"))["count"] < count:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"only {stats['count']:,} of {count:,} webhooks arrived in {seconds:.0f} s"
                )
            await asyncio.sleep(0.1)
        return stats

    async def stop(self) -> None:
        self._commands.close()
        try:
            async with asyncio.timeout(10):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def receiving(scratch: Path) -> AsyncIterator[tuple[ReceiverProcess, Path]]:
    """The receiver in its own process, with a certificate for localhost from a new CA; the
    CA's PEM file, for the servers to trust."""
    ca = trustme.CA()
    ca_file = scratch / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    certificate = scratch / "receiver.pem"
    ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(str(certificate))
    receiver = await ReceiverProcess.start(certificate, scratch / "receiver.log")
    try:
        yield receiver, ca_file
    finally:
        await receiver.stop()


if __name__ == "__main__":
    uvloop.run(serve(sys.argv[1]))
