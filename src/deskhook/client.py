"""Client-side helpers for deskhook's gRPC API: a channel that sends a bearer token with
every call, as both services expect in the `authorization` metadata."""

from collections.abc import Callable
from typing import Any

import grpc

Details = grpc.aio.ClientCallDetails


class BearerToken(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details: Details) -> Details:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), self._header)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Details, request: Any
    ) -> Any:
        return await continuation(self._with_token(details), request)

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Details, request: Any
    ) -> Any:
        return await continuation(self._with_token(details), request)

    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Details, request_iterator: Any
    ) -> Any:
        return await continuation(self._with_token(details), request_iterator)

    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Details, request_iterator: Any
    ) -> Any:
        return await continuation(self._with_token(details), request_iterator)


def open_channel(
    target: str,
    token: str | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    options: list[tuple[str, Any]] | None = None,
) -> grpc.aio.Channel:
    """A channel to `target`, with TLS when `credentials` are given, sending `token`."""
    interceptors = [BearerToken(token)] if token else None
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)
