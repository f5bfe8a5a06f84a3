"""The standard gRPC health service, with Watch streams that end at shutdown."""

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
Context = grpc.aio.ServicerContext[Any, Any]


class _Writes:
    """The watcher's context as grpcio's Watch loop sees it, telling when no write is under way
    (a stream takes one at a time, so the loop may only be stopped between two) and the last
    status written."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self.idle = asyncio.Event()
        self.idle.set()
        self.last_status: int | None = None

    async def write(self, response: health_pb2.HealthCheckResponse) -> None:
        self.idle.clear()
        try:
            await self._context.write(response)
            self.last_status = response.status
        finally:
            self.idle.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class HealthService(HealthServicer):  # type: ignore[misc]  # grpc_health ships no types
    """grpcio's health service, except that a Watch stream ends with NOT_SERVING once shutdown
    begins: grpcio's waits for the next change until its client leaves, and so held the
    server's stop for the whole grace period, for a status that can no longer change."""

    def __init__(self) -> None:
        super().__init__()
        self._shutting_down = asyncio.Event()

    async def enter_graceful_shutdown(self) -> None:
        await super().enter_graceful_shutdown()
        self._shutting_down.set()

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Context) -> None:
        writes = _Writes(context)
        watching = asyncio.ensure_future(super().Watch(request, writes))
        shutting_down = asyncio.ensure_future(self._shutting_down.wait())
        try:
            await asyncio.wait((watching, shutting_down), return_when=asyncio.FIRST_COMPLETED)
            if watching.done():
                # grpcio's loop never returns: it failed, and that is the answer.
                watching.result()
            await writes.idle.wait()
        finally:
            shutting_down.cancel()
            watching.cancel()
        # Whether grpcio's loop got to send NOT_SERVING before it was stopped is a race.
        if writes.last_status != NOT_SERVING:
            await context.write(health_pb2.HealthCheckResponse(status=NOT_SERVING))
