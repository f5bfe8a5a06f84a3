"""The guard maps domain errors to their status and anything else to an opaque INTERNAL, for
unary and streaming RPCs alike, and logs one line per RPC."""

from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import grpc
import pytest
import structlog
from structlog.testing import capture_logs

from deskhook.api.interceptors import GuardInterceptor
from deskhook.domain.errors import InvalidArgument, NotFound
from tests.support.rpc_errors import rpc_failure


def identity(payload: bytes) -> bytes:
    return payload


async def unary(request: bytes, context: Any) -> bytes:
    if request == b"missing":
        raise NotFound("no such thing", reason="THING_NOT_FOUND")
    if request == b"invalid":
        raise InvalidArgument.field("thing.size", "must be positive")
    if request == b"bug":
        raise RuntimeError("secret internals")
    return b"ok:" + request


async def stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"first"
    if request == b"bug":
        raise RuntimeError("secret internals")
    yield b"second"


@pytest.fixture
async def target() -> AsyncIterator[str]:
    server = grpc.aio.server(interceptors=[GuardInterceptor()])
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, identity, identity),
        "Stream": grpc.unary_stream_rpc_method_handler(stream, identity, identity),
    }
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("test.Guarded", handlers)]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(0)


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    with capture_logs() as captured:
        yield captured
    structlog.reset_defaults()


async def call_unary(target: str, payload: bytes) -> bytes:
    async with grpc.aio.insecure_channel(target) as channel:
        method = channel.unary_unary("/test.Guarded/Unary", identity, identity)
        response: bytes = await method(payload)
        return response


async def test_success_passes_through_and_is_logged(
    target: str, logs: list[MutableMapping[str, Any]]
) -> None:
    assert await call_unary(target, b"x") == b"ok:x"
    assert {"event": "rpc", "method": "/test.Guarded/Unary", "code": "OK"}.items() <= logs[
        -1
    ].items()


async def test_domain_errors_keep_code_reason_and_field(target: str) -> None:
    missing = await rpc_failure(call_unary(target, b"missing"))
    assert (missing.code, missing.reason, missing.message) == (
        grpc.StatusCode.NOT_FOUND,
        "THING_NOT_FOUND",
        "no such thing",
    )
    invalid = await rpc_failure(call_unary(target, b"invalid"))
    assert (invalid.code, invalid.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["thing.size"])


async def test_a_bug_is_an_opaque_internal_and_logged(
    target: str, logs: list[MutableMapping[str, Any]]
) -> None:
    failure = await rpc_failure(call_unary(target, b"bug"))
    assert (failure.code, failure.message, failure.reason) == (
        grpc.StatusCode.INTERNAL,
        "internal error",
        "INTERNAL",
    )
    (logged,) = [entry for entry in logs if entry["event"] == "rpc failed"]
    assert isinstance(logged["exc_info"], RuntimeError)


async def test_a_bug_in_a_stream_is_an_opaque_internal(target: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_stream("/test.Guarded/Stream", identity, identity)(b"bug")
        assert await call.read() == b"first"
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call.read()
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "secret internals" not in (raised.value.details() or "")
