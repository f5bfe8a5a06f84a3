"""Account tokens, minted and checked by pure functions (docs/design.md §10): a token grants its
account's scope until it expires or is revoked, and every alteration a forger can make without
the key is refused, as is anything that is not a token at all."""

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deskhook.domain.access_tokens import (
    MAX_TTL,
    PUBLISH_DELAY,
    RETIRE_MARGIN,
    ROTATE_AFTER,
    TOKEN_PREFIX,
    AccessTokenKey,
    TokenRefused,
    check,
    mint,
    needs_new_key,
    new_key,
    retired_keys,
    signing_key,
    ttl_violation,
)
from deskhook.domain.accounts import Scope
from deskhook.domain.errors import FieldViolation
from tests.support.access_tokens import (
    altered,
    counting_bytes,
    reassembled,
    signature_of,
    token_parts,
    with_signature,
)

# Not on a whole second: the expiry is, and the mint time keeps its microseconds.
NOW = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
KEY = AccessTokenKey("atk_one", b"k" * 32, NOW - timedelta(days=1))
OTHER_KEY = AccessTokenKey("atk_two", b"o" * 32, NOW - timedelta(days=2))
KEYS = {KEY.id: KEY, OTHER_KEY.id: OTHER_KEY}


def minted(
    account_id: str = "acme", read_only: bool = False, ttl: timedelta = timedelta(hours=1)
) -> str:
    return mint(account_id, read_only, ttl, key=KEY, now=NOW, random_bytes=counting_bytes()).token


def refusal(token: str, at: datetime = NOW, revocations: dict[str, datetime] | None = None) -> str:
    with pytest.raises(TokenRefused) as refused:
        check(token, KEYS, revocations or {}, at)
    return refused.value.reason


def test_a_token_grants_its_account_and_says_whether_it_is_read_only() -> None:
    assert check(minted("acme"), KEYS, {}, NOW) == Scope("acme", False)
    assert check(minted("acme", read_only=True), KEYS, {}, NOW) == Scope("acme", True)
    # The default account is the empty id, a scope of its own: not every account.
    assert check(minted(""), KEYS, {}, NOW) == Scope("", False)


def test_a_token_is_a_prefixed_hs256_jwt_naming_its_key() -> None:
    result = mint("acme", True, timedelta(hours=1), key=KEY, now=NOW, random_bytes=counting_bytes())
    assert result.token.startswith(TOKEN_PREFIX)
    header, claims, _ = token_parts(result.token)
    assert header == {"alg": "HS256", "kid": "atk_one", "typ": "JWT"}
    # Anyone with the key can read it with PyJWT, as with any JWT.
    decoded = jwt.decode(
        result.token.removeprefix(TOKEN_PREFIX),
        KEY.secret,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert decoded == claims
    assert claims["iss"] == "deskhook"
    assert (claims["account_id"], claims["read_only"]) == ("acme", True)
    assert claims["mint_time_us"] == 1_772_366_400_250_000
    assert claims["iat"] == 1_772_366_400
    assert claims["exp"] == 1_772_366_400 + 3600
    assert claims["jti"] == result.token_id
    # The expiry the caller is told is the token's, a whole second.
    assert result.expire_time == datetime(2026, 3, 1, 13, 0, 0, tzinfo=UTC)
    # The secret shows in no repr (a log line, a traceback).
    assert "kkkk" not in repr(KEY)
    assert result.token not in repr(result)


def test_each_token_has_its_own_id() -> None:
    random_bytes = counting_bytes()
    ids = {
        mint("acme", False, MAX_TTL, key=KEY, now=NOW, random_bytes=random_bytes).token_id
        for _ in range(3)
    }
    assert len(ids) == 3


def test_a_token_expires_at_its_expiry_and_not_a_microsecond_before() -> None:
    token = minted(ttl=timedelta(seconds=1))
    expiry = datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)
    assert check(token, KEYS, {}, expiry - MICROSECOND) == Scope("acme", False)
    assert refusal(token, expiry) == "TOKEN_EXPIRED"
    assert refusal(token, expiry + timedelta(days=365)) == "TOKEN_EXPIRED"


def test_revocation_ends_the_tokens_minted_before_it_to_the_microsecond() -> None:
    token = minted("acme")
    assert refusal(token, revocations={"acme": NOW + MICROSECOND}) == "TOKEN_REVOKED"
    # Minted at the very microsecond of the revocation, or after it: still valid.
    for revoked in (NOW, NOW - MICROSECOND):
        assert check(token, KEYS, {"acme": revoked}, NOW) == Scope("acme", False)
    # Another account's revocation changes nothing, nor does the default account's.
    later = NOW + timedelta(hours=1)
    assert check(token, KEYS, {"other": later, "": later}, NOW) == Scope("acme", False)


def test_an_altered_header_is_refused() -> None:
    token = minted()
    for header in (
        # Another key of the deployment: the signature is not its.
        {"kid": OTHER_KEY.id},
        # A key it does not have, or none named.
        {"kid": "atk_unknown"},
        {"kid": None},
        {"kid": 7},
        # Another algorithm, with the same signature or none at all.
        {"alg": "HS512"},
        {"alg": "HS384"},
        {"alg": "RS256"},
        {"alg": "none"},
        {"alg": "None"},
    ):
        assert refusal(altered(token, header)) == "TOKEN_INVALID", header


def test_an_unsigned_token_is_refused() -> None:
    header, claims, _ = token_parts(minted())
    for alg in ("none", "NONE"):
        assert refusal(reassembled({**header, "alg": alg}, claims, "")) == "TOKEN_INVALID"


# The key is short for these algorithms, which is beside the point here.
@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
def test_a_token_signed_with_another_algorithm_by_the_right_key_is_refused() -> None:
    _, claims, _ = token_parts(minted())
    for algorithm in ("HS384", "HS512"):
        other = jwt.encode(claims, KEY.secret, algorithm=algorithm, headers={"kid": KEY.id})
        assert refusal(TOKEN_PREFIX + other) == "TOKEN_INVALID"


def test_altered_claims_are_refused() -> None:
    token = minted(read_only=True)
    for claims in (
        {"read_only": False},
        {"account_id": "other"},
        {"account_id": None},
        {"exp": 4_000_000_000},
        {"mint_time_us": 4_000_000_000_000_000},
        {"iss": "someone-else"},
    ):
        assert refusal(altered(token, **claims)) == "TOKEN_INVALID", claims


def test_an_altered_signature_is_refused() -> None:
    token = minted()
    signature = signature_of(token)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    for other in (flipped, signature[:-1], signature + b"\0", b"", b"\0" * 32):
        assert refusal(with_signature(token, other)) == "TOKEN_INVALID"
    assert refusal(token[:-1]) == "TOKEN_INVALID"


def test_a_token_signed_by_a_forger_is_refused() -> None:
    _, claims, _ = token_parts(minted())
    for secret in (b"x" * 32, b"guess" * 7, OTHER_KEY.secret):
        forged = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": KEY.id})
        assert refusal(TOKEN_PREFIX + forged) == "TOKEN_INVALID"


def test_claims_of_the_wrong_type_are_refused_even_when_signed() -> None:
    """A token the key signed with claims deskhook never writes (as a leaked key could make)
    is refused rather than misread."""
    _, claims, _ = token_parts(minted())
    for changed in (
        {"read_only": "false"},
        {"read_only": 0},
        {"account_id": 7},
        {"account_id": "not an account id"},
        {"account_id": "a" * 65},
        {"exp": True},
        {"exp": 1e400},
        {"exp": str(claims["exp"])},
        {"mint_time_us": float(claims["mint_time_us"])},
        {"jti": 5},
    ):
        signed = jwt.encode(
            {**claims, **changed}, KEY.secret, algorithm="HS256", headers={"kid": KEY.id}
        )
        assert refusal(TOKEN_PREFIX + signed) == "TOKEN_INVALID", changed
    for missing in ("exp", "iat", "jti", "account_id", "read_only", "mint_time_us", "iss"):
        kept = {name: value for name, value in claims.items() if name != missing}
        signed = jwt.encode(kept, KEY.secret, algorithm="HS256", headers={"kid": KEY.id})
        assert refusal(TOKEN_PREFIX + signed) == "TOKEN_INVALID", missing


def test_huge_numbers_in_signed_claims_are_judged_not_converted() -> None:
    _, claims, _ = token_parts(minted())
    signed = jwt.encode(
        {**claims, "exp": 10**300, "mint_time_us": -(10**300)},
        KEY.secret,
        algorithm="HS256",
        headers={"kid": KEY.id},
    )
    # Valid as far as the clock goes, and minted before any revocation.
    assert check(TOKEN_PREFIX + signed, KEYS, {}, NOW) == Scope("acme", False)
    assert refusal(TOKEN_PREFIX + signed, revocations={"acme": NOW}) == "TOKEN_REVOKED"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "dhat_",
        "dhat_....",
        "dhat_a.b.c",
        "dhat_" + "A" * 5000,
        "x" * 5000,
        "dhat_" + ".".join(["eyJ" + "A" * 1660] * 3),
        # The bare JWT, without the prefix, is no account token.
        minted().removeprefix(TOKEN_PREFIX),
        # A genuine token past the length any token has.
        minted() + "." + "A" * 5000,
        "dhat_" + base64.urlsafe_b64encode(json.dumps([1] * 100).encode()).decode() + ".e30.",
        "dhat_" + base64.urlsafe_b64encode(b"[" * 1000).decode() + ".e30.",
        "dhat_\x00\x1b[31m.\u202e.\ud7ff",
    ],
)
def test_what_is_no_token_at_all_is_refused(token: str) -> None:
    assert refusal(token) == "TOKEN_INVALID"


@given(
    st.text(max_size=300)
    | st.text(alphabet="abcdefghijklmnopqrstuvwxyzAB0123456789-_.", max_size=600)
)
def test_any_text_is_refused_with_a_reason_and_nothing_else(text: str) -> None:
    for token in (text, TOKEN_PREFIX + text):
        with pytest.raises(TokenRefused):
            check(token, KEYS, {}, NOW)


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_any_header_and_claims_are_refused_when_unsigned(header: bytes, claims: bytes) -> None:
    encoded = [base64.urlsafe_b64encode(part).decode().rstrip("=") for part in (header, claims)]
    with pytest.raises(TokenRefused):
        check(TOKEN_PREFIX + ".".join([*encoded, "c2ln"]), KEYS, {}, NOW)


@pytest.mark.parametrize(
    ("ttl", "fine"),
    [
        (timedelta(seconds=1), True),
        (timedelta(hours=1), True),
        (timedelta(days=7), True),
        (timedelta(seconds=1) - MICROSECOND, False),
        (timedelta(0), False),
        (timedelta(seconds=-1), False),
        (timedelta(days=7) + MICROSECOND, False),
        (timedelta(days=10_000), False),
    ],
)
def test_a_lifetime_is_from_a_second_to_seven_days(ttl: timedelta, fine: bool) -> None:
    expected = None if fine else FieldViolation("ttl", "must be from 1 second to 7 days")
    assert ttl_violation(ttl) == expected


def key_made(at: datetime, name: str) -> AccessTokenKey:
    return AccessTokenKey(name, name.encode() * 8, at)


def test_a_key_is_made_when_there_is_none_or_the_newest_has_signed_long_enough() -> None:
    assert needs_new_key([], NOW)
    made = new_key(NOW, counting_bytes())
    assert (made.create_time, len(made.secret)) == (NOW, 32)
    assert made.id.startswith("atk_")
    assert not needs_new_key([made], NOW + ROTATE_AFTER - MICROSECOND)
    assert needs_new_key([made], NOW + ROTATE_AFTER)
    # The newest counts, whatever the order given.
    old = key_made(NOW - timedelta(days=30), "old")
    assert not needs_new_key([old, made], NOW)


def test_a_new_key_signs_once_every_replica_can_have_read_it() -> None:
    first = key_made(NOW, "first")
    # The first key of a deployment signs at once: there is no other.
    assert signing_key([first], NOW) == first
    second = key_made(NOW + ROTATE_AFTER, "second")
    keys = [second, first]
    assert signing_key(keys, second.create_time) == first
    assert signing_key(keys, second.create_time + PUBLISH_DELAY - MICROSECOND) == first
    assert signing_key(keys, second.create_time + PUBLISH_DELAY) == second
    with pytest.raises(ValueError, match="no key"):
        signing_key([], NOW)


def test_a_key_is_retired_once_every_token_it_signed_has_expired() -> None:
    first = key_made(NOW, "first")
    second = key_made(NOW + ROTATE_AFTER, "second")
    third = key_made(NOW + 2 * ROTATE_AFTER, "third")
    keys = [first, second, third]
    # The last token `first` signed was minted just before `second` signed, and lives MAX_TTL.
    last_use = second.create_time + PUBLISH_DELAY
    assert retired_keys(keys, last_use + MAX_TTL + RETIRE_MARGIN - MICROSECOND) == []
    assert retired_keys(keys, last_use + MAX_TTL + RETIRE_MARGIN) == ["first"]
    later = third.create_time + PUBLISH_DELAY + MAX_TTL + RETIRE_MARGIN
    assert sorted(retired_keys(keys, later)) == ["first", "second"]
    # The newest key is never retired, however old.
    assert retired_keys([first], NOW + timedelta(days=3650)) == []
