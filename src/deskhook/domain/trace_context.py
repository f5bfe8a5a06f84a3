"""W3C Trace Context (https://www.w3.org/TR/trace-context/): what a producer's `traceparent`
and `tracestate` must look like, and the `traceparent` each attempt sends, which keeps the
event's trace id and names the attempt as its own span (docs/design.md §4)."""

import re
from typing import Final

# version-traceid-parentid-flags, lower-case hex. A version deskhook does not know may add
# fields after these four; version ff is invalid.
_TRACEPARENT: Final = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_VERSION_00_LENGTH: Final = 55
_ZERO_TRACE_ID: Final = "0" * 32
_ZERO_SPAN_ID: Final = "0" * 16

# A list member: a key (simple, or `tenant@system`) and a value of printable ASCII without `,`
# or `=`, not ending in a space.
_TRACESTATE_MEMBER: Final = re.compile(
    r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
MAX_TRACESTATE_MEMBERS: Final = 32
MAX_TRACESTATE_LENGTH: Final = 512
SPAN_ID_BYTES: Final = 8


def traceparent_violation(value: str) -> str | None:
    """What is wrong with a `traceparent`, or None if it is well formed."""
    match = _TRACEPARENT.match(value)
    malformed = (
        "must be a W3C traceparent: 00-<32 hex digits>-<16 hex digits>-<2 hex digits>, lower case"
    )
    if match is None:
        return malformed
    version, trace_id, parent_id, _flags = match.groups()
    if version == "ff":
        return "has the invalid version ff"
    if len(value) != _VERSION_00_LENGTH and (version == "00" or value[_VERSION_00_LENGTH] != "-"):
        return malformed
    if trace_id == _ZERO_TRACE_ID:
        return "has a trace id of all zeros"
    if parent_id == _ZERO_SPAN_ID:
        return "has a parent id of all zeros"
    return None


def tracestate_violation(value: str) -> str | None:
    """What is wrong with a `tracestate`, or None if it is well formed (empty included)."""
    if len(value) > MAX_TRACESTATE_LENGTH:
        return f"must be at most {MAX_TRACESTATE_LENGTH} characters"
    members = [member.strip(" \t") for member in value.split(",")]
    listed = [member for member in members if member]
    if len(listed) > MAX_TRACESTATE_MEMBERS:
        return f"must have at most {MAX_TRACESTATE_MEMBERS} members"
    if not all(_TRACESTATE_MEMBER.fullmatch(member) for member in listed):
        return "must be a W3C tracestate: comma-separated key=value members"
    return None


def attempt_trace_headers(traceparent: str, tracestate: str, span_id: bytes) -> dict[str, str]:
    """The trace context headers of an attempt at an event whose own is `traceparent` (well
    formed) and `tracestate`: the same trace id and flags, the attempt's `span_id`
    (SPAN_ID_BYTES random bytes) as parent, in version 00, the version deskhook speaks; the
    tracestate unchanged."""
    _version, trace_id, _parent_id, flags = traceparent.split("-")[:4]
    headers = {"traceparent": f"00-{trace_id}-{span_id.hex()}-{flags}"}
    if tracestate:
        headers["tracestate"] = tracestate
    return headers
