"""Account access tokens: minted for one account by an operator, checked by every replica
(docs/design.md §11).

A token is `dhat_` followed by a JWT (RFC 7519) signed with HS256 under one of the deployment's
token keys, which the JWT header's `kid` names. PyJWT encodes, signs and verifies; the rules
around it are here: lifetimes, which key signs, when a key is made and retired, and revocation.
Nothing here reads a clock or a random source: `now` and `random_bytes` are passed in."""

import base64
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import jwt

from deskhook.domain.accounts import Scope, account_id_violation
from deskhook.domain.errors import FieldViolation
from deskhook.domain.times import from_micros, to_micros

# Tells an account token from an operator's or the helpdesk's at a glance (and to a secret
# scanner); the JWT follows it.
TOKEN_PREFIX: Final = "dhat_"  # noqa: S105 - the public prefix, not a secret
ALGORITHM: Final = "HS256"
ISSUER: Final = "deskhook"
# As long as HS256's hash: PyJWT's minimum recommended HMAC key length.
KEY_BYTES: Final = 32
KEY_ID_BYTES: Final = 10
KEY_ID_PREFIX: Final = "atk_"
TOKEN_ID_BYTES: Final = 16

DEFAULT_TTL: Final = timedelta(hours=1)
MIN_TTL: Final = timedelta(seconds=1)
MAX_TTL: Final = timedelta(days=7)
# Ours are about 300 characters; anything much longer is refused before it is parsed.
MAX_TOKEN_LENGTH: Final = 2048

# A key signs for this long before the next one is made: as long as the longest token lives.
ROTATE_AFTER: Final = MAX_TTL
# A new key signs only once it is this old, so that every replica has read it before a token
# signed with it reaches one (they reread the keys at least every half second while tokens come
# in), with room for replicas' clocks to differ by a few seconds.
PUBLISH_DELAY: Final = timedelta(seconds=5)
# A key that no longer signs is kept until every token it signed has expired, and this much
# more for replicas' clocks and for the publish delay.
RETIRE_MARGIN: Final = timedelta(hours=1)

# The claims every token carries: the standard ones, and ours. `mint_time_us` is when it was
# minted to the microsecond (`iat` holds whole seconds), what revocation compares with.
_CLAIMS: Final = ("iss", "iat", "exp", "jti", "account_id", "read_only", "mint_time_us")
_SECOND_US: Final = 1_000_000


@dataclass(frozen=True)
class AccessTokenKey:
    """One key that signs tokens. `id` is public (the JWT's `kid`); `secret` never leaves the
    store and the process, and is kept out of every repr."""

    id: str
    secret: bytes = field(repr=False)
    create_time: datetime


@dataclass(frozen=True)
class MintedToken:
    """A token as minted: shown once, to the operator who asked; `token_id` (the JWT's `jti`)
    names it in the log instead."""

    token: str = field(repr=False)
    expire_time: datetime
    token_id: str


class TokenRefused(Exception):
    """Why a token is not accepted: `reason` is a stable code for clients (TOKEN_EXPIRED,
    TOKEN_REVOKED, or TOKEN_INVALID for everything a holder of a genuine token never sees)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _invalid(why: str) -> TokenRefused:
    return TokenRefused("TOKEN_INVALID", f"the access token is not valid: {why}")


def _urlsafe(random_bytes: bytes) -> str:
    return base64.urlsafe_b64encode(random_bytes).decode("ascii").rstrip("=")


def ttl_violation(ttl: timedelta, field_name: str = "ttl") -> FieldViolation | None:
    """What is wrong with a token lifetime; None if fine."""
    if MIN_TTL <= ttl <= MAX_TTL:
        return None
    return FieldViolation(field_name, "must be from 1 second to 7 days")


def new_key(now: datetime, random_bytes: Callable[[int], bytes]) -> AccessTokenKey:
    """A fresh key made at `now` (the caller passes `secrets.token_bytes`)."""
    return AccessTokenKey(
        KEY_ID_PREFIX + _urlsafe(random_bytes(KEY_ID_BYTES)), random_bytes(KEY_BYTES), now
    )


def _newest_first(keys: Sequence[AccessTokenKey]) -> list[AccessTokenKey]:
    return sorted(keys, key=lambda key: (key.create_time, key.id), reverse=True)


def needs_new_key(keys: Sequence[AccessTokenKey], now: datetime) -> bool:
    """Whether a key should be made: there is none, or the newest has signed for ROTATE_AFTER."""
    return not keys or max(key.create_time for key in keys) <= now - ROTATE_AFTER


def signing_key(keys: Sequence[AccessTokenKey], now: datetime) -> AccessTokenKey:
    """The key that signs at `now`: the newest one published (at least PUBLISH_DELAY old), or,
    while there is none yet, the newest: the first key of a deployment signs at once, as every
    replica makes sure of it before serving."""
    if not keys:
        raise ValueError("no key to sign with")
    ordered = _newest_first(keys)
    return next((key for key in ordered if key.create_time <= now - PUBLISH_DELAY), ordered[0])


def retired_keys(keys: Sequence[AccessTokenKey], now: datetime) -> list[str]:
    """The ids of keys no token can need any more: a key stops signing at the latest once its
    successor is published, and what it signed then expires MAX_TTL later."""
    ordered = _newest_first(keys)
    return [
        older.id
        for newer, older in itertools.pairwise(ordered)
        if newer.create_time + PUBLISH_DELAY + MAX_TTL + RETIRE_MARGIN <= now
    ]


def mint(
    account_id: str,
    read_only: bool,
    ttl: timedelta,
    *,
    key: AccessTokenKey,
    now: datetime,
    random_bytes: Callable[[int], bytes],
) -> MintedToken:
    """A token for `account_id`, signed with `key`, valid from `now` for at most `ttl` (its
    expiry is a whole second, as JWT's `exp` is)."""
    mint_time_us = to_micros(now)
    expire_seconds = to_micros(now + ttl) // _SECOND_US
    token_id = _urlsafe(random_bytes(TOKEN_ID_BYTES))
    claims = {
        "iss": ISSUER,
        "iat": mint_time_us // _SECOND_US,
        "exp": expire_seconds,
        "jti": token_id,
        "account_id": account_id,
        "read_only": read_only,
        "mint_time_us": mint_time_us,
    }
    encoded = jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.id})
    return MintedToken(TOKEN_PREFIX + encoded, from_micros(expire_seconds * _SECOND_US), token_id)


def _is_int(value: object) -> bool:
    # JSON true and false are Python bools, which are ints too.
    return isinstance(value, int) and not isinstance(value, bool)


def _claims(token: str, keys: Mapping[str, AccessTokenKey]) -> dict[str, Any]:
    """The claims of a well-formed token signed by one of `keys`."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise _invalid("not an access token")
    encoded = token.removeprefix(TOKEN_PREFIX)
    try:
        key_id = jwt.get_unverified_header(encoded).get("kid")
    except jwt.PyJWTError:
        raise _invalid("malformed") from None
    key = keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        raise _invalid("signed with a key this deployment does not have")
    try:
        # PyJWT would judge `exp` and `iat` by its own clock: they are judged by `now` below.
        claims: dict[str, Any] = jwt.decode(
            encoded,
            key.secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={
                "require": list(_CLAIMS),
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise _invalid("its signature does not match") from None
    except jwt.PyJWTError:
        raise _invalid("malformed") from None
    account_id = claims["account_id"]
    if (
        not isinstance(account_id, str)
        or account_id_violation(account_id) is not None
        or not isinstance(claims["read_only"], bool)
        or not _is_int(claims["exp"])
        or not _is_int(claims["mint_time_us"])
    ):
        raise _invalid("malformed claims")
    return claims


def check(
    token: str,
    keys: Mapping[str, AccessTokenKey],
    revocations: Mapping[str, datetime],
    now: datetime,
) -> Scope:
    """The scope `token` grants at `now`, given the keys by id and each account's revocation
    time (tokens of the account minted before it are revoked). TokenRefused otherwise."""
    claims = _claims(token, keys)
    if to_micros(now) >= claims["exp"] * _SECOND_US:
        raise TokenRefused("TOKEN_EXPIRED", "the access token has expired")
    account_id: str = claims["account_id"]
    revoked = revocations.get(account_id)
    if revoked is not None and claims["mint_time_us"] < to_micros(revoked):
        raise TokenRefused("TOKEN_REVOKED", "the access token was revoked")
    return Scope(account_id, claims["read_only"])
