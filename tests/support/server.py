"""The test server's credentials and stub types, and `running`, for tests that start a server
of their own settings rather than take the `server` fixture (tests/conftest.py)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

from deskhook.config import Settings
from deskhook.delivery.http_client import HttpLimits
from deskhook.server import DeskhookServer, Tuning
from deskhook.v1 import channel_admin_pb2_grpc, event_ingest_pb2_grpc
from tests.support.resolver import StaticResolver

# The async stub type exists only in the generated .pyi stubs.
AdminStub: TypeAlias = "channel_admin_pb2_grpc.ChannelAdminAsyncStub"
IngestStub: TypeAlias = "event_ingest_pb2_grpc.EventIngestAsyncStub"

ADMIN_TOKEN = "admin-token-for-tests"
INGEST_TOKEN = "ingest-token-for-tests"
# Signs the operational webhooks of servers given an operational URL.
OPERATIONAL_SECRET = "whsec_" + "b3BlcmF0aW9uYWwgd2ViaG9va3MgZm9yIHRlc3Rz"
# Short enough that a hanging receiver costs a test well under a second.
TEST_LIMITS = HttpLimits(connect_timeout=0.5, total_timeout=0.5)


@asynccontextmanager
async def running(
    settings: Settings, tuning: Tuning | None = None
) -> AsyncIterator[DeskhookServer]:
    """A started server, stopped on the way out."""
    server = DeskhookServer(settings, tuning or Tuning(resolver=StaticResolver))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)
