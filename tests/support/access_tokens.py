"""Account tokens taken apart and put back together, altered on the way: what a forger can do
without the key (docs/design.md §10)."""

import base64
import json
from collections.abc import Callable
from typing import Any

from deskhook.domain.access_tokens import TOKEN_PREFIX


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The header, the claims and the signature (still encoded) of a `dhat_` token."""
    header, claims, signature = token.removeprefix(TOKEN_PREFIX).split(".")
    return json.loads(_unb64(header)), json.loads(_unb64(claims)), signature


def reassembled(header: dict[str, Any], claims: dict[str, Any], signature: str) -> str:
    """A `dhat_` token of these parts, as a forger would write it."""
    parts = (json.dumps(header).encode(), json.dumps(claims).encode())
    return TOKEN_PREFIX + ".".join([*(_b64(part) for part in parts), signature])


def altered(token: str, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """`token` with header fields and claims changed, its signature kept."""
    old_header, old_claims, signature = token_parts(token)
    return reassembled({**old_header, **(header or {})}, {**old_claims, **claims}, signature)


def with_signature(token: str, signature: bytes) -> str:
    """`token`, header and claims byte for byte, with another signature."""
    signed, _, _ = token.rpartition(".")
    return f"{signed}.{_b64(signature)}"


def signature_of(token: str) -> bytes:
    return _unb64(token.rpartition(".")[2])


def counting_bytes() -> Callable[[int], bytes]:
    """A `random_bytes` that is not random: 0x01..., 0x02..., so that tests are repeatable and
    two draws differ."""
    drawn = 0

    def random_bytes(count: int) -> bytes:
        nonlocal drawn
        drawn += 1
        return bytes([drawn % 256]) * count

    return random_bytes
