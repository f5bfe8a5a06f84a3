"""Run `deskhook serve` as a real subprocess and find the port it bound."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

START_TIMEOUT_SECONDS = 20.0


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    port: int
    log_lines: list[str]


def deskhook_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "deskhook", *args]


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


@contextmanager
def serve_process(
    database: Path, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> Iterator[ServeProcess]:
    """Start the server on port 0 with JSON logs; on exit, stop it with SIGTERM."""
    process = subprocess.Popen(
        deskhook_command(
            "serve", "--listen", "127.0.0.1:0", "--database", str(database), *extra_args
        ),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "DESKHOOK_LOG_FORMAT": "json", **(env or {})},
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        port = _read_until_listening(process.stderr, lines)
        yield ServeProcess(process, port, lines)
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        lines.extend(process.stderr.readlines())
        process.stderr.close()
