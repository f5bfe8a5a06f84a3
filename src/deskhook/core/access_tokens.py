"""Account access tokens: the use cases behind CreateAccessToken and RevokeAccessTokens, and the
check of a token on every call that presents one (docs/design.md §11).

Checks run against the keys and revocations as read from the store at most CACHE_SECONDS ago,
so a call costs no query, and a revocation made by another replica is seen within that long
(plus one read). The replica that revokes sees its own revocation at once."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog

from deskhook.domain.access_tokens import (
    DEFAULT_TTL,
    MAX_TTL,
    RETIRE_MARGIN,
    ROTATE_AFTER,
    AccessTokenKey,
    MintedToken,
    check,
    mint,
    needs_new_key,
    new_key,
    retired_keys,
    signing_key,
    ttl_violation,
)
from deskhook.domain.accounts import Scope, account_id_violation
from deskhook.domain.console_links import console_link
from deskhook.domain.errors import InvalidArgument
from deskhook.store.base import Store

log = structlog.get_logger("deskhook.tokens")

# How stale the keys and revocations a check uses may be: half of the second in which a
# revocation must reach every replica, the other half left for the read itself.
CACHE_SECONDS: Final = 0.5


@dataclass(frozen=True)
class CreatedToken:
    """A minted token with the console link that signs in with it ("" without a console)."""

    minted: MintedToken
    console_url: str


@dataclass(frozen=True)
class _Known:
    keys: dict[str, AccessTokenKey]
    revocations: dict[str, datetime]
    # When its read began, by the monotonic clock: what it holds is at least that recent.
    read_at: float
    # How many of its own writes the replica had made then.
    writes: int


class AccessTokens:
    """Mints, revokes and checks account tokens over `store`. `now` is the wall clock tokens
    carry; `monotonic` times the cache (a test passes its own to age it)."""

    def __init__(
        self,
        store: Store,
        *,
        now: Callable[[], datetime],
        random_bytes: Callable[[int], bytes],
        console_url: str = "",
        monotonic: Callable[[], float] = time.monotonic,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self._store = store
        self._now = now
        self._random_bytes = random_bytes
        self._console_url = console_url
        self._monotonic = monotonic
        self._cache_seconds = cache_seconds
        self._known: _Known | None = None
        # Counts this replica's own writes of keys and revocations: a read begun before the
        # last one is stale whatever its age, as it may have missed it.
        self._writes = 0
        # One read at a time: calls that find the cache stale together wait for one read.
        self._reading = asyncio.Lock()

    async def start(self) -> None:
        """Make sure a current key exists before serving: every replica starting does, so the
        first key of a deployment is one that all of them have read."""
        await self._keep_keys()

    async def create(self, account_id: str, read_only: bool, ttl: timedelta | None) -> CreatedToken:
        violations = [
            violation
            for violation in (
                account_id_violation(account_id),
                ttl_violation(DEFAULT_TTL if ttl is None else ttl),
            )
            if violation is not None
        ]
        if violations:
            raise InvalidArgument(*violations)
        keys = await self._keep_keys()
        now = self._now()
        minted = mint(
            account_id,
            read_only,
            DEFAULT_TTL if ttl is None else ttl,
            key=signing_key(keys, now),
            now=now,
            random_bytes=self._random_bytes,
        )
        log.info(
            "access token created",
            account_id=account_id,
            read_only=read_only,
            token_id=minted.token_id,
            expire_time=minted.expire_time.isoformat(),
        )
        return CreatedToken(minted, console_link(self._console_url, token=minted.token))

    async def revoke(self, account_id: str) -> datetime:
        """End every token of `account_id` minted before now; when, as stored."""
        violation = account_id_violation(account_id)
        if violation is not None:
            raise InvalidArgument(violation)
        now = self._now()
        revoked = await self._store.revoke_access_tokens(
            account_id, now, now - MAX_TTL - RETIRE_MARGIN
        )
        # This replica refuses the revoked tokens from its next check on.
        self._invalidate()
        log.info("access tokens revoked", account_id=account_id, revoke_time=revoked.isoformat())
        return revoked

    async def scope(self, token: str) -> Scope:
        """The scope `token` grants; TokenRefused when it grants none."""
        known = await self._fresh()
        return check(token, known.keys, known.revocations, self._now())

    async def _keep_keys(self) -> list[AccessTokenKey]:
        """The keys, after making a new one when it is due and dropping those retired."""
        now = self._now()
        keys = await self._store.access_token_keys()
        if needs_new_key(keys, now):
            key = new_key(now, self._random_bytes)
            if await self._store.add_access_token_key(key, now - ROTATE_AFTER):
                # Debug: the first is made as a deployment first starts, before "listening".
                log.debug("access token key created", key_id=key.id)
                self._invalidate()
            keys = await self._store.access_token_keys()
        retired = retired_keys(keys, now)
        if retired:
            await self._store.delete_access_token_keys(retired)
            log.debug("access token keys retired", key_ids=retired)
            keys = [key for key in keys if key.id not in retired]
        return keys

    def _invalidate(self) -> None:
        self._writes += 1

    def _cached(self) -> _Known | None:
        known = self._known
        if known is None or known.writes != self._writes:
            return None
        return known if self._monotonic() - known.read_at < self._cache_seconds else None

    async def _fresh(self) -> _Known:
        known = self._cached()
        if known is not None:
            return known
        async with self._reading:
            known = self._cached()
            if known is not None:
                return known
            read_at, writes = self._monotonic(), self._writes
            keys = await self._store.access_token_keys()
            revocations = await self._store.access_token_revocations()
            known = _Known({key.id: key for key in keys}, revocations, read_at, writes)
            self._known = known
            return known
