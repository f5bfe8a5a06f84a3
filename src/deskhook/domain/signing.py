"""Standard Webhooks signing: `whsec_` secrets and the headers every request carries.

Signing is a few lines over the standard library's HMAC; the tests verify the result with the
public `standardwebhooks` library, so both sides are checked independently."""

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

SECRET_PREFIX = "whsec_"  # noqa: S105 - the public prefix, not a secret
SECRET_BYTES = 32


def new_secret(random_bytes: bytes) -> str:
    """A secret from `SECRET_BYTES` random bytes (the caller passes `secrets.token_bytes`)."""
    if len(random_bytes) != SECRET_BYTES:
        raise ValueError(f"a signing secret needs {SECRET_BYTES} random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode("ascii")


# Standard Webhooks' bounds on a secret's key.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


def secret_problem(secret: str) -> str:
    """What is wrong with a `whsec_` secret given by an operator; "" if fine. Never the secret
    itself: the message may be logged."""
    if not secret.startswith(SECRET_PREFIX):
        return f"must start with {SECRET_PREFIX}"
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        return f"must be {SECRET_PREFIX} followed by base64"
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        return f"must hold {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes of key, not {len(key)}"
    return ""


class SigningSecret(NamedTuple):
    secret: str
    # None while it is the current secret; after a rotation, the end of its grace period.
    expire_time: datetime | None


def active_secrets(secrets: Sequence[SigningSecret], now: datetime) -> list[str]:
    """The secrets that sign at `now`, in the order given (the store gives newest first)."""
    return [s.secret for s in secrets if s.expire_time is None or s.expire_time > now]


def secret_key(secret: str) -> bytes:
    """The HMAC key behind a `whsec_` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature_header(keys: Sequence[bytes], webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` for every key, space-separated:
    during a rotation's grace period the receiver accepts whichever secret it has."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode("ascii")
        for key in keys
    )


def webhook_headers(
    *,
    keys: Sequence[bytes],
    webhook_id: str,
    timestamp: int,
    body: bytes,
    event_type: str,
    attempt: int,
) -> dict[str, str]:
    """The headers of one attempt (docs/design.md §4); the user agent is set by the HTTP client."""
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, webhook_id, timestamp, body),
        "x-deskhook-event-type": event_type,
        "x-deskhook-attempt": str(attempt),
    }
