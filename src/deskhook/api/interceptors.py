"""Server interceptors: bearer-token auth with the caller's scope, and the guard that turns
errors into statuses and logs one line per RPC."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple, NoReturn, TypeAlias

import grpc
import structlog
from google.protobuf.message import DecodeError

from deskhook.api.auth import ADMIN_SERVICE, TokenRules, Verdict, bearer_token, status_code
from deskhook.api.caller import acting_in
from deskhook.api.errors import INTERNAL, status_for, status_with_reason
from deskhook.core.access_tokens import AccessTokens
from deskhook.domain.access_tokens import TokenRefused
from deskhook.domain.accounts import EVERY_ACCOUNT, Scope
from deskhook.domain.errors import DomainError, InvalidArgument
from deskhook.domain.permissions import OPERATOR_METHODS, may_call

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
    """Judges each call's token. A ChannelAdmin call that may go on runs with its caller's scope
    (deskhook.api.caller): every account for an operator token (or on an open service), one
    account for an account token, if the scope may call the method at all (docs/design.md §11).
    An account token is checked in the call's own handler, so that a store that cannot be read
    meanwhile is answered (UNAVAILABLE) and logged by the guard outside, as any other failure."""

    def __init__(self, rules: TokenRules, access_tokens: AccessTokens) -> None:
        self._rules = rules
        self._access_tokens = access_tokens

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        value = metadata.get("authorization")
        authorization = value if isinstance(value, str) else None
        verdict = self._rules.verdict(handler_call_details.method, authorization)
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        if handler is None or (verdict is Verdict.ALLOWED and service != ADMIN_SERVICE):
            return handler
        if verdict not in (Verdict.ALLOWED, Verdict.ACCOUNT_TOKEN):
            return _refused(handler, _refusal(verdict))

        async def scope_of(context: Context) -> Scope:
            if verdict is Verdict.ALLOWED:
                return EVERY_ACCOUNT
            try:
                scope = await self._access_tokens.scope(bearer_token(authorization) or "")
            except TokenRefused as refused:
                await _abort(
                    context,
                    status_with_reason(
                        grpc.StatusCode.UNAUTHENTICATED, refused.message, refused.reason
                    ),
                )
            if not may_call(scope, method):
                await _abort(context, _denied(scope, method))
            return scope

        return _scoped(handler, scope_of)


def _refusal(verdict: Verdict) -> grpc.Status:
    message = (
        "this token may not call this service"
        if verdict is Verdict.PERMISSION_DENIED
        else "a valid bearer token is required in the authorization metadata"
    )
    return status_with_reason(status_code(verdict), message, verdict.name)


def _denied(scope: Scope, method: str) -> grpc.Status:
    message = (
        "a read-only token may only get, list and watch"
        if scope.read_only and method not in OPERATOR_METHODS
        else f"only operator tokens may call {method}"
    )
    return status_with_reason(grpc.StatusCode.PERMISSION_DENIED, message, "PERMISSION_DENIED")


def _refused(handler: Handler, status: grpc.Status) -> Handler:
    async def refuse(_request: Any, context: Context) -> None:
        await _abort(context, status)

    return _with_behaviour(handler, refuse)


def _scoped(handler: Handler, scope_of: Callable[[Context], Awaitable[Scope]]) -> Handler:
    """`handler`, run in the scope `scope_of` decides for the call (or not at all, if it
    aborts). The scope is set in the RPC's own task, in which the servicer then runs."""
    behaviour = _behaviour(handler)
    if inspect.isasyncgenfunction(behaviour):

        async def streamed(request: Any, context: Context) -> AsyncIterator[Any]:
            acting_in(await scope_of(context))
            async for response in behaviour(request, context):
                yield response

        return _with_behaviour(handler, streamed)

    async def called(request: Any, context: Context) -> Any:
        acting_in(await scope_of(context))
        return await behaviour(request, context)

    return _with_behaviour(handler, called)


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
