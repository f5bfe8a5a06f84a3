"""Run the real `deskhook` command against a test server, as a subprocess awaited on the event
loop: the in-process server runs on that loop and must keep answering meanwhile."""

import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any

from tests.support.serve_process import deskhook_command

RUN_SECONDS = 30.0


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines()]

    def failure(self, returncode: int = 1) -> str:
        """Standard error of a run that must have failed with `returncode`, without a
        traceback."""
        assert self.returncode == returncode, (self.returncode, self.stdout, self.stderr)
        assert "Traceback" not in self.stderr, self.stderr
        return self.stderr


class Cli:
    """`deskhook` pointed at the server on `port` by DESKHOOK_SERVER, sending `token` (if any)
    by DESKHOOK_TOKEN; no other DESKHOOK_* setting leaks in from the test's environment."""

    def __init__(self, port: int, token: str | None) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DESKHOOK_")}
        self.env["DESKHOOK_SERVER"] = f"127.0.0.1:{port}"
        if token is not None:
            self.env["DESKHOOK_TOKEN"] = token

    async def start(
        self,
        *args: str,
        stdin: int = asyncio.subprocess.DEVNULL,
        stderr: int = asyncio.subprocess.PIPE,
    ) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *deskhook_command(*args),
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=self.env,
        )

    async def run(self, *args: str, stdin: bytes | None = None) -> CliResult:
        process = await self.start(
            *args, stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE
        )
        async with asyncio.timeout(RUN_SECONDS):
            stdout, stderr = await process.communicate(stdin)
        assert process.returncode is not None
        return CliResult(process.returncode, stdout.decode(), stderr.decode())
