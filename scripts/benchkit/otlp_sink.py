"""An OpenTelemetry collector that accepts spans over OTLP/gRPC and drops them, counting what
came: what a server with tracing on exports to, on 127.0.0.1, without a collector installed."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


@dataclass
class Received:
    requests: int = 0
    size: int = 0
    # The ExportTraceServiceRequest messages, as sent, when the sink was asked to keep them.
    kept: list[bytes] = field(default_factory=list)


@contextlib.asynccontextmanager
async def otlp_sink(*, keep: bool = False) -> AsyncIterator[tuple[str, Received]]:
    """The endpoint to name in OTEL_EXPORTER_OTLP_ENDPOINT, and what has come to it (`keep`:
    the requests too)."""
    received = Received()

    def export(request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        received.requests += 1
        received.size += len(request)
        if keep:
            received.kept.append(request)
        # An empty ExportTraceServiceResponse: every span accepted.
        return b""

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        await server.stop(grace=None)
