"""A failed call told in a few readable lines: the server's message, the reason its
google.rpc.ErrorInfo gives and the fields its google.rpc.BadRequest names."""

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

_HINTS = {
    grpc.StatusCode.UNAUTHENTICATED: "pass a token with --token or DESKHOOK_TOKEN",
    grpc.StatusCode.PERMISSION_DENIED: (
        "channels, log and redeliver need an admin or account token, tokens an admin token;"
        " publish needs an ingest token"
    ),
}


def _rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    try:
        status: status_pb2.Status | None = rpc_status.from_call(error)
    except ValueError:
        # Details that contradict the status line are not the server's: show the status only.
        return None
    return status


def _details(status: status_pb2.Status | None) -> tuple[str, list[tuple[str, str]]]:
    """The ErrorInfo reason and the BadRequest field violations of `status`."""
    reason, violations = "", []
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations = [(v.field, v.description) for v in bad_request.field_violations]
    return reason, violations


def describe(error: grpc.aio.AioRpcError, server: str) -> list[str]:
    """The first line names the failure; any further lines explain it."""
    code, message = error.code(), error.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        return [f"cannot reach the deskhook server at {server}: {message}"]
    reason, violations = _details(_rich_status(error))
    # The default reason of a code repeats its name: not worth saying twice.
    because = f" (reason {reason})" if reason and reason != code.name else ""
    lines = [f"{code.name}: {message}{because}"]
    lines += [
        f"  {field}: {description}"
        for field, description in violations
        if f"{field}: {description}" not in message
    ]
    if code in _HINTS:
        lines.append(f"  {_HINTS[code]}")
    return lines
