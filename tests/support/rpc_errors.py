"""Reading the rich error details (ErrorInfo, BadRequest) of a failed call."""

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2


@dataclass(frozen=True)
class RpcFailure:
    code: grpc.StatusCode
    message: str
    reason: str
    fields: list[str]


def failure_of(error: grpc.RpcError) -> RpcFailure:
    """A failed call's code, message, ErrorInfo reason and BadRequest fields; the call may be
    blocking or asyncio."""
    assert isinstance(error, grpc.Call | grpc.aio.AioRpcError)
    reason, fields = "", []
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                fields = [violation.field for violation in bad_request.field_violations]
    return RpcFailure(error.code(), error.details() or "", reason, fields)


async def rpc_failure(call: Awaitable[Any]) -> RpcFailure:
    """Await `call`, which must fail; what `failure_of` reads from it."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return failure_of(raised.value)
