"""Opaque page tokens and page sizes (AIP-158).

A token carries the position after the last item returned and a digest of the query it was
issued for, so a token reused with other filters is refused rather than silently wrong."""

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import TypeGuard

from deskhook.domain.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Positions are row keys and times in microseconds: what a database's signed 64-bit integer holds.
POSITION_RANGE = range(-(2**63), 2**63)
JsonScalar = int | str | bool | None


def page_size(requested: int, field: str = "page_size") -> int:
    """0 means the default; above the maximum is coerced down, as AIP-158 asks."""
    if requested < 0:
        raise InvalidArgument.field(field, "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _query_digest(query: Mapping[str, JsonScalar]) -> str:
    canonical = json.dumps(query, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_page_token(position: list[int], query: Mapping[str, JsonScalar]) -> str:
    payload = json.dumps({"p": position, "q": _query_digest(query)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode("ascii").rstrip("=")


def _is_position(value: object, length: int) -> TypeGuard[list[int]]:
    return (
        isinstance(value, list)
        and len(value) == length
        # bool is an int to Python, never to a token.
        and all(type(part) is int and part in POSITION_RANGE for part in value)
    )


def decode_page_token(
    token: str, query: Mapping[str, JsonScalar], length: int, field: str = "page_token"
) -> list[int] | None:
    """The position (`length` integers) a token resumes after; None for the first page (empty
    token)."""
    if not token:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        position, digest = payload["p"], payload["q"]
    # A forged token can nest its JSON past the parser's recursion limit.
    except (ValueError, TypeError, KeyError, RecursionError):
        position = digest = None
    if not _is_position(position, length):
        raise InvalidArgument.field(
            field, "is not a token from a previous page", reason="INVALID_PAGE_TOKEN"
        )
    if digest != _query_digest(query):
        raise InvalidArgument.field(
            field, "was issued for a request with other filters", reason="INVALID_PAGE_TOKEN"
        )
    return position
