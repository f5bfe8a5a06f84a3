"""Run `deskhook serve` as a real subprocess and find the port it bound."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

START_TIMEOUT_SECONDS = 20.0
# Longer than the server's shutdown grace.
STOP_SECONDS = 30.0


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    port: int
    log_lines: list[str]


def deskhook_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "deskhook", *args]


def delivery_flags(admin_token: str, ingest_token: str, ca_bundle: Path) -> tuple[str, ...]:
    """Flags for a server with these tokens that delivers to a local test receiver: loopback
    exempt from the URL policy, and the receiver's CA (a PEM file) trusted."""
    return (
        "--admin-token", admin_token,
        "--ingest-token", ingest_token,
        "--allow-network", "127.0.0.0/8",
        "--ca-bundle", str(ca_bundle),
    )  # fmt: skip


def _read_until_listening(stream: IO[str], lines: list[str]) -> int:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == "listening":
            return int(record["port"])
    raise AssertionError("deskhook serve did not start:\n" + "".join(lines))


@asynccontextmanager
async def serve_process(
    database: str, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> AsyncIterator[ServeProcess]:
    """Start the server on port 0 with JSON logs; on exit, stop it with SIGTERM.

    Its log is read all along, by a thread: the server writes a line per attempt, and a pipe
    nobody reads fills up and freezes it. The exit is awaited off the event loop, so receivers
    running on this loop can still answer the server's last attempts."""
    # Popen returns at once; only the waits block, and they run in a thread.
    process = subprocess.Popen(  # noqa: ASYNC220
        deskhook_command(
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--console-listen",
            "127.0.0.1:0",
            "--database",
            database,
            *extra_args,
        ),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "DESKHOOK_LOG_FORMAT": "json", **(env or {})},
    )
    assert process.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lines.extend, args=(process.stderr,), daemon=True)
    try:
        port = _read_until_listening(process.stderr, lines)
        reader.start()
        yield ServeProcess(process, port, lines)
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            await asyncio.to_thread(process.wait, STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if reader.is_alive():
            reader.join()
        else:
            lines.extend(process.stderr)
        process.stderr.close()
