"""The gRPC services, called from a transport that is not gRPC (the JSON API, docs/design.md
§12): each call goes through the handlers the servicers register and the same interceptors the
gRPC server runs (the guard, then the token check and the caller's scope), so that auth, scope,
error statuses and the log line are one code path whichever way a call comes in."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeAlias, cast

import grpc
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message
from google.rpc import status_pb2

from deskhook.api.interceptors import Context, Handler

Metadata: TypeAlias = tuple[tuple[str, str | bytes], ...]
STATUS_DETAILS_KEY = "grpc-status-details-bin"
# What the guard makes of a unary and of a server-streaming servicer method.
Unary: TypeAlias = Callable[[Message, Context], Awaitable[Message]]
ServerStream: TypeAlias = Callable[[Message, Context], AsyncGenerator[Message, None]]


class CallDetails(grpc.HandlerCallDetails):
    """What an interceptor learns of a call: the method's path and the request's metadata."""

    def __init__(self, method: str, invocation_metadata: Metadata) -> None:
        self.method = method
        self.invocation_metadata = invocation_metadata


class HandlerTable:
    """Takes what a generated `add_<Service>Servicer_to_server` registers, as a server does: the
    method handlers of each service, by `/package.Service/Method`."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}

    def add_generic_rpc_handlers(self, _handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """The same handlers again, for servers that look methods up one call at a time."""

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, Handler]
    ) -> None:
        for name, handler in method_handlers.items():
            self.handlers[f"/{service_name}/{name}"] = handler


class Ended(NamedTuple):
    """How a call ended without its response: its code, message and status details."""

    code: grpc.StatusCode
    message: str
    details: Sequence[AnyMessage]

    @classmethod
    def of(cls, code: grpc.StatusCode, message: str, trailing_metadata: Metadata) -> Ended:
        details: list[AnyMessage] = []
        for key, value in trailing_metadata:
            if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
                details.extend(status_pb2.Status.FromString(value).details)
        return cls(code, message, details)

    @classmethod
    def of_status(cls, status: grpc.Status) -> Ended:
        return cls.of(status.code, status.details, status.trailing_metadata)


class CallFailed(Exception):
    """The call ended with a status other than OK."""

    def __init__(self, ended: Ended) -> None:
        super().__init__(ended.message)
        self.ended = ended


class BridgeContext:
    """The part of `grpc.aio.ServicerContext` deskhook's servicers and interceptors use."""

    def __init__(
        self, metadata: Metadata, headers: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._metadata = metadata
        # Sends the response's headers, for a servicer that says when they go out.
        self._headers = headers
        self._ended: Ended | None = None
        self._callbacks: list[Callable[[Any], None]] = []
        self._cancelled = False

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()
    ) -> None:
        self._ended = Ended.of(code, details, trailing_metadata)
        raise grpc.aio.AbortError()

    async def send_initial_metadata(self, _metadata: Metadata) -> None:
        if self._headers is not None:
            await self._headers()

    def invocation_metadata(self) -> Metadata:
        return self._metadata

    def code(self) -> grpc.StatusCode | None:
        return self._ended.code if self._ended is not None else None

    def cancelled(self) -> bool:
        return self._cancelled

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self._callbacks.append(callback)

    def done(self, *, cancelled: bool) -> None:
        """The call is over (`cancelled`: its client went away first)."""
        self._cancelled = cancelled
        for callback in self._callbacks:
            callback(self)

    def failed(self) -> CallFailed:
        return CallFailed(self._ended or Ended(grpc.StatusCode.UNKNOWN, "", ()))

    def as_servicer_context(self) -> Context:
        # The servicers are typed for gRPC's context; they use only what this one has.
        return cast("Context", self)


class RpcBridge:
    """Calls a method's handler as the gRPC server does: found through the interceptors, per
    call, with the call's metadata."""

    def __init__(
        self, handlers: Mapping[str, Handler], interceptors: Sequence[grpc.aio.ServerInterceptor]
    ) -> None:
        self._handlers = handlers
        self._interceptors = interceptors

    async def unary(self, method: str, metadata: Metadata, request: Message) -> Message:
        """The response; CallFailed with the status the call ended with otherwise."""
        handler = await self._handler(method, metadata)
        context = BridgeContext(metadata)
        try:
            return await cast(Unary, handler.unary_unary)(request, context.as_servicer_context())
        except grpc.aio.AbortError:
            raise context.failed() from None
        finally:
            context.done(cancelled=False)

    async def server_stream(
        self,
        method: str,
        metadata: Metadata,
        request: Message,
        headers: Callable[[], Awaitable[None]],
    ) -> AsyncGenerator[Message, None]:
        """The responses; CallFailed with the status the call ended with, if not OK. Closed
        before its end, the call counts as cancelled by its client. `headers` sends the
        response's headers when the servicer says they go out."""
        handler = await self._handler(method, metadata)
        context = BridgeContext(metadata, headers)
        responses = cast(ServerStream, handler.unary_stream)(request, context.as_servicer_context())
        ended = False
        try:
            async for response in responses:
                yield response
            ended = True
        except grpc.aio.AbortError:
            ended = True
            raise context.failed() from None
        finally:
            await responses.aclose()
            context.done(cancelled=not ended)

    async def _handler(self, method: str, metadata: Metadata) -> Handler:
        async def continuation(index: int, details: grpc.HandlerCallDetails) -> Handler | None:
            if index == len(self._interceptors):
                return self._handlers.get(details.method)
            return await self._interceptors[index].intercept_service(
                lambda next_details: continuation(index + 1, next_details), details
            )

        handler = await continuation(0, CallDetails(method, metadata))
        if handler is None:
            raise CallFailed(Ended(grpc.StatusCode.UNIMPLEMENTED, f"no method {method}", ()))
        return handler
