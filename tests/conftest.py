"""Fixtures shared by the suite: a real server on port 0 over a real database (a SQLite file,
and a PostgreSQL database too when a server is configured: see tests/support/databases.py), a real
HTTPS receiver it may deliver to, and channels that carry the right token. Servers resolve
names offline (tests/support/resolver.py), and the DNS guard fails a test that asks a nameserver."""

import os
import signal
import socket
from collections.abc import AsyncIterator
from ipaddress import ip_network
from pathlib import Path

import asyncpg
import grpc
import pytest
import pytest_asyncio

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.server import DeskhookServer, Tuning
from deskhook.store.base import Store, StoreOpenError
from deskhook.store.location import redacted
from deskhook.store.memory.store import MemoryStore
from deskhook.v1 import channel_admin_pb2_grpc, event_ingest_pb2_grpc
from tests.support.clock import FakeClock
from tests.support.databases import (
    POSTGRES_ENV,
    REQUIRE_ENV,
    PostgresServer,
    backends,
    postgres_required,
)
from tests.support.receiver import Receiver
from tests.support.resolver import StaticResolver
from tests.support.server import (
    ADMIN_TOKEN,
    INGEST_TOKEN,
    TEST_LIMITS,
    AdminStub,
    IngestStub,
    running,
)
from tests.support.store_items import opened

pytest_plugins = ("pytester", "tests.support.dns_guard_plugin")


def pytest_configure() -> None:
    # A shell that starts the suite in the background ignores SIGINT, and every command the
    # tests start would inherit that; the Ctrl-C tests need it delivered. A Python handler is
    # not inherited across exec, so the children start with the default again.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_server() -> AsyncIterator[PostgresServer]:
    """The server named by DESKHOOK_TEST_POSTGRES, with this session's template database."""
    url = os.environ.get(POSTGRES_ENV, "")
    server: PostgresServer | None = None
    reason = f"{POSTGRES_ENV} is not set"
    if url:
        try:
            server = await PostgresServer.prepare(url)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, StoreOpenError) as error:
            reason = f"PostgreSQL at {redacted(url)} cannot be used: {error}"
    if server is None:
        if postgres_required():
            pytest.fail(f"{REQUIRE_ENV}=1, but {reason}")
        pytest.skip(reason)
    yield server
    await server.close()


@pytest.fixture
async def postgres_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database, dropped after the test: its URL."""
    url = await postgres_server.create_database()
    yield url
    await postgres_server.drop_database(url)


def database_of(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The `database` setting of a fresh database of `backend` (one of `backends()`)."""
    if backend == "sqlite":
        return str(tmp_path / "deskhook.db")
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture(params=backends())
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The `database` setting of a test server: every test that takes it runs on SQLite and,
    when a server is configured, again on PostgreSQL."""
    return database_of(request.param, request, tmp_path)


@pytest.fixture(params=["memory", *backends()])
def store_database(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """What `empty_store` opens: None for the in-memory store, else a `database` setting."""
    return None if request.param == "memory" else database_of(request.param, request, tmp_path)


@pytest.fixture
async def empty_store(store_database: str | None) -> AsyncIterator[Store]:
    """An empty store of each kind, for the store contract: every test that takes it runs on
    the in-memory store, on SQLite and, when a server is configured, on PostgreSQL."""
    if store_database is None:
        yield MemoryStore()
        return
    async with opened(store_database) as store:
        yield store


@pytest.fixture
def settings(tmp_path: Path, database: str, receiver: Receiver) -> Settings:
    """Tokens set, loopback allowed (the receiver is there) and the receiver's CA trusted."""
    return Settings(
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        console_listen="127.0.0.1:0",
        database=database,
        admin_tokens=(ADMIN_TOKEN,),
        ingest_tokens=(INGEST_TOKEN,),
        allow_networks=(ip_network("127.0.0.0/8"),),
        ca_bundle=receiver.write_ca(tmp_path / "receiver-ca.pem"),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tuning(clock: FakeClock) -> Tuning:
    """Short HTTP limits, offline DNS, a clock the test moves, and no jitter (retry times are
    exact)."""
    return Tuning(http_limits=TEST_LIMITS, resolver=StaticResolver, clock=clock, jitter=lambda: 0.5)


@pytest.fixture
async def server(settings: Settings, tuning: Tuning) -> AsyncIterator[DeskhookServer]:
    async with running(settings, tuning) as started:
        yield started


@pytest.fixture
async def channel(server: DeskhookServer) -> AsyncIterator[grpc.aio.Channel]:
    """A channel without a token: for health, reflection and auth failures."""
    async with open_channel(f"127.0.0.1:{server.port}") as open_:
        yield open_


@pytest.fixture
async def admin(server: DeskhookServer) -> AsyncIterator[AdminStub]:
    async with open_channel(f"127.0.0.1:{server.port}", ADMIN_TOKEN) as open_:
        yield channel_admin_pb2_grpc.ChannelAdminStub(open_)


@pytest.fixture
async def ingest(server: DeskhookServer) -> AsyncIterator[IngestStub]:
    async with open_channel(f"127.0.0.1:{server.port}", INGEST_TOKEN) as open_:
        yield event_ingest_pb2_grpc.EventIngestStub(open_)


@pytest.fixture
def scheduler(server: DeskhookServer) -> DeliveryScheduler:
    """The running server's scheduler; `await scheduler.drain()` waits until nothing is due."""
    assert server.scheduler is not None
    return server.scheduler
