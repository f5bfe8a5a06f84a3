"""The metrics and probes endpoint has no authentication: whoever reaches its port cannot hold
connections open for ever, cannot open more than its cap, cannot starve gRPC, and is not told
what software answers."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deskhook.api.http_endpoint import SERVER_HEADER, EndpointLimits
from deskhook.config import Settings
from deskhook.server import DeskhookServer, Tuning
from tests.support.server import running

# Bounds on the test, far above what the endpoint needs to answer or to hang up.
ANSWER_SECONDS = 10.0
HALF_SENT = b"GET /livez HTTP/1.1\r\nHost: deskhook\r\n"
WHOLE = HALF_SENT + b"\r\n"

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@asynccontextmanager
async def with_limits(settings: Settings, limits: EndpointLimits) -> AsyncIterator[DeskhookServer]:
    async with running(settings, Tuning(metrics_limits=limits)) as server:
        yield server


async def connect(stack: AsyncExitStack, port: int, request: bytes) -> Connection:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    stack.callback(writer.close)
    writer.write(request)
    await writer.drain()
    return reader, writer


async def hung_up(reader: asyncio.StreamReader) -> bool:
    """Whether the endpoint closed the connection without answering (bounded: a connection
    left open fails the test instead of hanging it)."""
    try:
        return await asyncio.wait_for(reader.read(), ANSWER_SECONDS) == b""
    except ConnectionResetError:
        return True


async def test_half_sent_requests_are_closed_after_the_header_timeout(settings: Settings) -> None:
    limits = EndpointLimits(header_timeout=0.2)
    async with with_limits(settings, limits) as server, AsyncExitStack() as stack:
        half_sent = [await connect(stack, server.metrics_port, HALF_SENT) for _ in range(5)]
        assert [await hung_up(reader) for reader, _ in half_sent] == [True] * 5


async def test_connections_past_the_cap_are_closed_and_grpc_still_answers(
    settings: Settings,
) -> None:
    limits = EndpointLimits(header_timeout=60, max_connections=3)
    async with with_limits(settings, limits) as server, AsyncExitStack() as stack:
        held = [await connect(stack, server.metrics_port, WHOLE) for _ in range(3)]
        for reader, _ in held:
            # Answered and kept alive: the endpoint holds the connection.
            await asyncio.wait_for(reader.readuntil(b"ok\n"), ANSWER_SECONDS)

        (reader, _) = await connect(stack, server.metrics_port, WHOLE)
        assert await hung_up(reader)

        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=ANSWER_SECONDS
            )
        assert health.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/livez", 200),
        ("GET", "/metrics", 200),
        ("GET", "/nope", 404),
        ("POST", "/livez", 405),
    ],
)
async def test_answers_do_not_name_the_software(
    server: DeskhookServer, method: str, path: str, status: int
) -> None:
    url = f"http://127.0.0.1:{server.metrics_port}{path}"
    async with aiohttp.ClientSession() as session, session.request(method, url) as response:
        assert response.status == status
        assert response.headers.getall("Server") == [SERVER_HEADER]


async def test_a_malformed_request_is_answered_without_the_software_either(
    server: DeskhookServer,
) -> None:
    async with AsyncExitStack() as stack:
        reader, _ = await connect(stack, server.metrics_port, b"NOT HTTP AT ALL\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), ANSWER_SECONDS)
    head = answer.split(b"\r\n\r\n")[0].decode().splitlines()
    assert head[0].endswith("400 Bad Request")
    assert [line for line in head if line.lower().startswith("server:")] == [
        f"Server: {SERVER_HEADER}"
    ]
