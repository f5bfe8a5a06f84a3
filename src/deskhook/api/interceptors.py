"""Server interceptors: bearer-token auth, and the guard that turns errors into statuses and
logs one line per RPC."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple, NoReturn, TypeAlias

import grpc
import structlog
from google.protobuf.message import DecodeError

from deskhook.api.auth import TokenRules, Verdict, status_code
from deskhook.api.errors import INTERNAL, status_for, status_with_reason
from deskhook.domain.errors import DomainError, InvalidArgument

log = structlog.get_logger("deskhook.rpc")

# Strings: these generics exist only in the type stubs, not at run time.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation: TypeAlias = Callable[[grpc.HandlerCallDetails], Awaitable["Handler | None"]]
Behaviour = Callable[..., Any]

_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def _behaviour(handler: Handler) -> Behaviour:
    behaviour: Behaviour | None = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    if behaviour is None:
        raise TypeError(f"method handler without a behaviour: {handler!r}")
    return behaviour


def _with_behaviour(
    handler: Handler,
    behaviour: Behaviour,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    factory = _FACTORIES[(handler.request_streaming, handler.response_streaming)]
    return factory(
        behaviour,
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class _Undecodable(NamedTuple):
    """What the guard's deserializer hands on for bytes protobuf cannot decode."""

    error: str


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer`, answering undecodable bytes with an _Undecodable instead of raising:
    raised there, gRPC would answer UNKNOWN (a stream: INTERNAL) with the parser's words."""
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        # Invalid UTF-8, a cut-off varint, nesting past the decoder's depth limit...
        except (DecodeError, RecursionError) as error:
            return _Undecodable(str(error) or type(error).__name__)

    return deserialize


def _decoded(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise InvalidArgument.field(
            "request",
            f"is not a valid protobuf message for this method: {request.error}",
            reason="MALFORMED_REQUEST",
        )
    return request


async def _decoded_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _decoded(request)


async def _abort(context: Context, status: grpc.Status) -> NoReturn:
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returns only by raising")


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, rules: TokenRules) -> None:
        self._rules = rules

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        authorization = metadata.get("authorization")
        verdict = self._rules.verdict(
            handler_call_details.method, authorization if isinstance(authorization, str) else None
        )
        if handler is None or verdict is Verdict.ALLOWED:
            return handler
        message = (
            "this token may not call this service"
            if verdict is Verdict.PERMISSION_DENIED
            else "a valid bearer token is required in the authorization metadata"
        )
        status = status_with_reason(status_code(verdict), message, verdict.name)

        async def refuse(_request: Any, context: Context) -> None:
            await _abort(context, status)

        return _with_behaviour(handler, refuse)


class GuardInterceptor(grpc.aio.ServerInterceptor):
    """Maps DomainError to its status, any other exception to an opaque INTERNAL (logged with
    its traceback), and logs one line per RPC with the code it ended with and its duration."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        behaviour = _behaviour(handler)
        decoded = _decoded_stream if handler.request_streaming else _decoded
        deserializer = _tolerant(handler.request_deserializer)
        if inspect.isasyncgenfunction(behaviour):

            async def guarded_stream(request: Any, context: Context) -> AsyncIterator[Any]:
                line = _RpcLine(method, context)
                try:
                    async for response in behaviour(decoded(request), context):
                        yield response
                except BaseException as error:
                    await _fail(line, context, error)
                line.returned(context.code())

            return _with_behaviour(handler, guarded_stream, deserializer)

        async def guarded(request: Any, context: Context) -> Any:
            line = _RpcLine(method, context)
            try:
                response = await behaviour(decoded(request), context)
            except BaseException as error:
                await _fail(line, context, error)
            # Its one response is decided: a cancel from here on changes nothing.
            line.write(context.code())
            return response

        return _with_behaviour(handler, guarded, deserializer)


class _RpcLine:
    """The one log line of an RPC. A streaming servicer that returned has not yet ended its
    RPC: the client may still cancel it (it can end its requests and cancel at once, and the
    servicer then returns as if all went well), so that line is written by the RPC's done
    callback, which knows. A call that ends while the servicer is not running (the client
    cancels while a response is being sent, or its connection drops) never returns to the
    guard at all: the done callback writes it as CANCELLED."""

    def __init__(self, method: str, context: Context) -> None:
        self.method = method
        self._started = time.perf_counter()
        self._written = False
        self._returned: object = grpc.StatusCode.CANCELLED
        # The stubs type the callback as their own class, not as any callable.
        context.add_done_callback(self._done)  # type: ignore[arg-type]

    def returned(self, code: object) -> None:
        self._returned = code

    def _done(self, context: Context) -> None:
        self.write(grpc.StatusCode.CANCELLED if context.cancelled() else self._returned)

    def write(self, code: object, reason: str | None = None) -> None:
        if self._written:
            return
        self._written = True
        extra = {"reason": reason} if reason is not None else {}
        log.info("rpc", method=self.method, code=_code_name(code), **extra, duration_ms=self._ms())

    def _ms(self) -> float:
        return round((time.perf_counter() - self._started) * 1000, 3)


async def _fail(line: _RpcLine, context: Context, error: BaseException) -> NoReturn:
    if isinstance(error, DomainError):
        status = status_for(error)
        line.write(status.code, error.reason)
        await _abort(context, status)
    if isinstance(error, grpc.aio.AbortError):
        # The servicer aborted on its own: the context holds its code.
        line.write(context.code())
        raise error
    if not isinstance(error, Exception):
        # Cancelled (by the client, a deadline or shutdown), or the stream closed unfinished.
        line.write(grpc.StatusCode.CANCELLED)
        raise error
    log.exception("rpc failed", method=line.method, exc_info=error)
    line.write(INTERNAL.code)
    await _abort(context, INTERNAL)


def _code_name(code: object) -> str:
    return code.name if isinstance(code, grpc.StatusCode) else str(code or "OK")
