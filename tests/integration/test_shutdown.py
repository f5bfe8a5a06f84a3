"""Shutdown does not wait on streams that never end by themselves: a watcher of the webhook log
is ended at once, with a status saying why, and a watcher of the server's health once it was
told NOT_SERVING."""

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deskhook.server import DeskhookServer
from deskhook.v1 import channel_admin_pb2 as pb
from tests.support.rpc_errors import rpc_failure
from tests.support.server import AdminStub

# A grace stop() could only outlast by waiting for it; and the bound on the test.
HUGE_GRACE_SECONDS = 3600.0
STOP_SECONDS = 10.0


async def test_stop_ends_a_log_watcher_at_once(server: DeskhookServer, admin: AdminStub) -> None:
    call = admin.WatchDeliveryLog(pb.WatchDeliveryLogRequest())
    # Headers come once the watcher is registered.
    await call.initial_metadata()

    await asyncio.wait_for(server.stop(grace=HUGE_GRACE_SECONDS), STOP_SECONDS)

    failure = await rpc_failure(call.read())
    assert (failure.code, failure.reason, failure.message) == (
        grpc.StatusCode.UNAVAILABLE,
        "SHUTTING_DOWN",
        "the server is shutting down",
    )


async def test_stop_ends_a_health_watcher_once_told_not_serving(
    server: DeskhookServer, channel: grpc.aio.Channel
) -> None:
    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
    first = await call.read()
    assert isinstance(first, health_pb2.HealthCheckResponse)
    assert first.status == health_pb2.HealthCheckResponse.SERVING

    await asyncio.wait_for(server.stop(grace=HUGE_GRACE_SECONDS), STOP_SECONDS)

    statuses = []
    while (response := await call.read()) is not grpc.aio.EOF:
        assert isinstance(response, health_pb2.HealthCheckResponse)
        statuses.append(response.status)
    assert set(statuses) == {health_pb2.HealthCheckResponse.NOT_SERVING}
    assert await call.code() == grpc.StatusCode.OK
