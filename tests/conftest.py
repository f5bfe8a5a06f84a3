"""Fixtures shared by the suite: a real server on port 0 over a real SQLite file."""

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from deskhook.config import Settings
from deskhook.server import DeskhookServer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(listen="127.0.0.1:0", database=str(tmp_path / "deskhook.db"))


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[DeskhookServer]:
    running = DeskhookServer(settings)
    await running.start()
    yield running
    await running.stop(grace=0)


@pytest.fixture
async def channel(server: DeskhookServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as open_channel:
        yield open_channel
