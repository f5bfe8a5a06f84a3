"""A Node.js client (@grpc/grpc-js on the protos alone) against a real server that delivers to
the real HTTPS receiver: the contract works for clients in other languages."""

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from deskhook.server import DeskhookServer
from tests.support.processes import finished
from tests.support.receiver import Receiver
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN

NODE_DIR = Path(__file__).parents[1] / "node"
CLIENT_TEST = NODE_DIR / "deskhook_client.test.js"
# Generous: node starts in well under a second and the deliveries go to a local receiver.
NODE_SECONDS = 60.0


def node_command() -> list[str]:
    """`node --test` on the client test; fails (never skips: CI must run it) when Node.js or the
    client's packages are missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (`node`) is not on PATH: the Node.js client test needs Node.js 20+")
    if not (NODE_DIR / "node_modules").is_dir():
        pytest.fail("tests/node has no node_modules: run scripts/test, which runs npm ci there")
    return [node, "--test", str(CLIENT_TEST)]


async def test_node_client_creates_publishes_and_reads_the_log(
    server: DeskhookServer, receiver: Receiver
) -> None:
    # Asyncio, not subprocess.run: the server in this process serves on this loop meanwhile.
    process = await asyncio.create_subprocess_exec(
        *node_command(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "DESKHOOK_ADDRESS": f"127.0.0.1:{server.port}",
            "DESKHOOK_ADMIN_TOKEN": ADMIN_TOKEN,
            "DESKHOOK_INGEST_TOKEN": INGEST_TOKEN,
            "DESKHOOK_RECEIVER_URL": receiver.url(),
        },
    )
    output, _ = await finished(process, NODE_SECONDS)
    assert process.returncode == 0, output.decode(errors="replace")
