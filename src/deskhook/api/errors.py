"""The one place where errors become gRPC statuses.

Domain errors carry a status code and a google.rpc.ErrorInfo reason (and, for invalid
arguments, a google.rpc.BadRequest naming each field). Anything else is a bug: it is logged
with its traceback and answered as an opaque INTERNAL."""

from typing import Final

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from deskhook.domain.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)

ERROR_DOMAIN: Final = "deskhook.dev"
# An error travels in trailers, which a client caps (8 KiB by default): past that it sees
# RESOURCE_EXHAUSTED instead of the error. What a request can make long (quoted values, one
# violation per repeated element) is bounded where it arises; these bounds hold for the rest.
MAX_MESSAGE_CHARS: Final = 1024
MAX_VIOLATIONS: Final = 20

_CODES: Final[dict[type[DomainError], grpc.StatusCode]] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    # gRPC clients retry UNAVAILABLE, and only that.
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_with_reason(
    code: grpc.StatusCode, message: str, reason: str, *extra_details: Message
) -> grpc.Status:
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    details = [
        _packed(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)),
        *(_packed(detail) for detail in extra_details),
    ]
    number: int = code.value[0]
    status: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=number, message=message, details=details)
    )
    return status


def status_for(error: DomainError) -> grpc.Status:
    code = next(
        (code for kind, code in _CODES.items() if isinstance(error, kind)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    if not isinstance(error, InvalidArgument):
        return status_with_reason(code, error.message, error.reason)
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in error.violations[:MAX_VIOLATIONS]
        ]
    )
    return status_with_reason(code, error.message, error.reason, bad_request)


INTERNAL: Final = status_with_reason(grpc.StatusCode.INTERNAL, "internal error", "INTERNAL")
