"""Errors as gRPC statuses: whatever a request makes long, the status stays within what a
client accepts in trailers (8 KiB by default), or it would see RESOURCE_EXHAUSTED instead."""

import grpc
from google.rpc import error_details_pb2, status_pb2

from deskhook.api.errors import MAX_MESSAGE_CHARS, MAX_VIOLATIONS, status_for
from deskhook.domain.errors import FieldViolation, InvalidArgument


def test_a_long_error_is_cut_to_fit_the_trailers() -> None:
    error = InvalidArgument(*(FieldViolation(f"items[{n}]", "x" * 50) for n in range(5000)))
    status = status_for(error)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(status.details) == MAX_MESSAGE_CHARS
    assert status.details.startswith("items[0]: ")
    (details,) = [value for key, value in status.trailing_metadata if key.endswith("-bin")]
    assert isinstance(details, bytes)
    bad_request = error_details_pb2.BadRequest()
    status_pb2.Status.FromString(details).details[1].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == [
        f"items[{n}]" for n in range(MAX_VIOLATIONS)
    ]
    assert len(details) < 4096
