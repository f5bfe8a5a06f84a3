"""Opaque page tokens and page sizes (AIP-158).

A token carries the position after the last item returned and a digest of the query it was
issued for, so a token reused with other filters is refused rather than silently wrong."""

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from deskhook.domain.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Positions are row keys and times in microseconds: what a database's signed 64-bit integer holds.
POSITION_RANGE = range(-(2**63), 2**63)
# Text positions are ids (an account's is at most 64 characters).
MAX_TEXT_POSITION = 256
JsonScalar = int | str | bool | None
Part = TypeVar("Part", int, str)
Item = TypeVar("Item")


@dataclass(frozen=True)
class Page(Generic[Item]):
    """One page of a list, and the token of the next ("" after the last)."""

    items: list[Item]
    next_page_token: str


def page_size(requested: int, field: str = "page_size") -> int:
    """0 means the default; above the maximum is coerced down, as AIP-158 asks."""
    if requested < 0:
        raise InvalidArgument.field(field, "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _query_digest(query: Mapping[str, JsonScalar]) -> str:
    canonical = json.dumps(query, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_page_token(position: Sequence[int | str], query: Mapping[str, JsonScalar]) -> str:
    payload = json.dumps({"p": position, "q": _query_digest(query)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode("ascii").rstrip("=")


def _is_part(value: object, kind: type[int | str]) -> bool:
    # bool is an int to Python, never to a token.
    if type(value) is not kind:
        return False
    return (
        value in POSITION_RANGE if isinstance(value, int) else len(str(value)) <= MAX_TEXT_POSITION
    )


def decode_page_token(
    token: str,
    query: Mapping[str, JsonScalar],
    kind: type[Part],
    length: int,
    field: str = "page_token",
) -> list[Part] | None:
    """The position (`length` parts of `kind`) a token resumes after; None for the first page
    (empty token)."""
    if not token:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        position, digest = payload["p"], payload["q"]
    # A forged token can nest its JSON past the parser's recursion limit.
    except (ValueError, TypeError, KeyError, RecursionError):
        position = digest = None
    if not (
        isinstance(position, list)
        and len(position) == length
        and all(_is_part(part, kind) for part in position)
    ):
        raise InvalidArgument.field(
            field, "is not a token from a previous page", reason="INVALID_PAGE_TOKEN"
        )
    if digest != _query_digest(query):
        raise InvalidArgument.field(
            field, "was issued for a request with other filters", reason="INVALID_PAGE_TOKEN"
        )
    return position
