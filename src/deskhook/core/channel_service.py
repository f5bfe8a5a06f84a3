"""Channel administration: the use cases behind ChannelAdmin's channel RPCs."""

import base64
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from deskhook.domain.accounts import Scope, account_for_create
from deskhook.domain.breaker import ChannelHealth
from deskhook.domain.channel_spec import (
    Channel,
    ChannelSpec,
    ConnectionStatus,
    ConnectionTest,
    apply_update,
    check_unchanged_account,
    validate_spec,
)
from deskhook.domain.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted
from deskhook.domain.events import event_id_violation
from deskhook.domain.operational import check_changeable
from deskhook.domain.paging import Page, decode_page_token, encode_page_token, page_size
from deskhook.domain.signing import SECRET_BYTES, active_secrets, new_secret
from deskhook.domain.text import NO_CONTROL_CHARACTERS, has_control_characters
from deskhook.domain.url_policy import UrlPolicy, UrlRefused, check_url
from deskhook.store.base import ChannelFilter, CreateRequest, DuplicateCreateRequest, Store

log = structlog.get_logger("deskhook.channels")

MAX_REQUEST_ID_LENGTH = 128
# Ids are made here ("ch_" and 24 characters); a longer one names no channel.
MAX_ID_LENGTH = 128
DEFAULT_GRACE_PERIOD = timedelta(hours=24)
MAX_GRACE_PERIOD = timedelta(days=7)
ID_BYTES = 15


class ConnectionTester(Protocol):
    """Sends one signed `connection_test` request to `url` and judges the answer as a
    delivery's. The server passes in deskhook.delivery's (`HttpConnectionTester`): the use
    cases send nothing themselves."""

    async def __call__(self, test: ConnectionTest) -> ConnectionStatus: ...


def _random_id(prefix: str, random_bytes: bytes) -> str:
    return prefix + base64.b32encode(random_bytes).decode("ascii").lower()


def request_hash(spec: ChannelSpec) -> str:
    """Identifies what a CreateChannel asked for, to tell a retry from a reused request id."""
    return hashlib.sha256(repr(spec).encode()).hexdigest()


def channel_not_found(channel_id: str) -> NotFound:
    return NotFound(f"channel {channel_id!r} does not exist", reason="CHANNEL_NOT_FOUND")


def check_id(channel_id: str, field: str) -> None:
    """A channel id may be looked up: never one with control characters, which no channel
    has and PostgreSQL text cannot hold (NUL), nor a long one, which NOT_FOUND would quote
    back past what a client accepts in an error."""
    if len(channel_id) > MAX_ID_LENGTH:
        raise InvalidArgument.field(field, f"must be at most {MAX_ID_LENGTH} characters")
    if has_control_characters(channel_id):
        raise InvalidArgument.field(field, NO_CONTROL_CHARACTERS)


def require_id(channel_id: str, field: str = "id") -> None:
    if not channel_id:
        raise InvalidArgument.field(field, "is required")
    check_id(channel_id, field)


class ChannelService:
    def __init__(
        self,
        store: Store,
        test_connection: ConnectionTester,
        policy: UrlPolicy,
        *,
        now: Callable[[], datetime],
        random_bytes: Callable[[int], bytes],
        on_change: Callable[[], Awaitable[None]],
        on_redeliver: Callable[[], None],
        health_of: Callable[[str], ChannelHealth],
        max_channels_per_account: int,
    ) -> None:
        self._store = store
        self._test_connection = test_connection
        self._policy = policy
        self._now = now
        self._random_bytes = random_bytes
        # Called after a channel is created, changed or deleted: matching reads channels from
        # memory and must see the change.
        self._on_change = on_change
        # Wakes the delivery scheduler: redelivered work is due at once.
        self._on_redeliver = on_redeliver
        self._health_of = health_of
        self._max_channels_per_account = max_channels_per_account

    async def create(
        self, scope: Scope, spec: ChannelSpec, account_id: str = "", request_id: str = ""
    ) -> tuple[Channel, str]:
        """The saved channel, tested, and its signing secret. It lands in `account_id`, or in
        the scope's own account (docs/design.md §10)."""
        account_id = account_for_create(scope, account_id, "channel.account_id")
        validate_spec(spec, self._policy)
        if len(request_id) > MAX_REQUEST_ID_LENGTH:
            raise InvalidArgument.field(
                "request_id", f"must be at most {MAX_REQUEST_ID_LENGTH} characters"
            )
        if has_control_characters(request_id):
            raise InvalidArgument.field("request_id", NO_CONTROL_CHARACTERS)
        request = CreateRequest(request_id, request_hash(spec)) if request_id else None
        if request is not None and (earlier := await self._created_by(account_id, request)):
            return earlier
        # Counted before the insert: creates racing in one account may pass the cap by a few.
        if await self._store.count_channels(account_id) >= self._max_channels_per_account:
            raise ResourceExhausted(
                f"the account has {self._max_channels_per_account} channels, the most allowed;"
                " delete one first",
                reason="CHANNEL_LIMIT_REACHED",
            )
        now = self._now()
        channel_id = _random_id("ch_", self._random_bytes(ID_BYTES))
        secret = new_secret(self._random_bytes(SECRET_BYTES))
        status = await self._test(spec.url, [secret], channel_id)
        channel = Channel(
            channel_id,
            spec,
            create_time=now,
            update_time=now,
            connection=status,
            account_id=account_id,
        )
        try:
            await self._store.insert_channel(channel, secret, request)
        except DuplicateCreateRequest:
            # A concurrent retry won the race; answer as it did.
            earlier = await self._created_by(account_id, request) if request else None
            if earlier is None:
                raise
            return earlier
        await self._on_change()
        log.info(
            "channel created",
            channel_id=channel_id,
            account_id=account_id,
            department_id=spec.department_id,
            connection=status.state.value,
        )
        return channel, secret

    async def _created_by(
        self, account_id: str, request: CreateRequest
    ) -> tuple[Channel, str] | None:
        created = await self._store.find_created_channel(account_id, request.request_id)
        if created is None:
            return None
        if created.request_hash != request.request_hash:
            raise AlreadyExists(
                f"request_id {request.request_id!r} was already used for another channel",
                reason="REQUEST_ID_REUSED",
            )
        return created.channel, created.signing_secret

    async def get(self, scope: Scope, channel_id: str, field: str = "id") -> Channel:
        require_id(channel_id, field)
        channel = await self._store.get_channel(scope, channel_id)
        if channel is None:
            raise channel_not_found(channel_id)
        return channel

    async def list_channels(
        self, scope: Scope, channel_filter: ChannelFilter, requested_size: int, page_token: str
    ) -> Page[Channel]:
        size = page_size(requested_size)
        query = {
            "department_id": channel_filter.department_id,
            "enabled": channel_filter.enabled,
            "account_id": repr(scope.account_id),
        }
        position = decode_page_token(page_token, query, int, length=1)
        after = position[0] if position is not None else 0
        # One extra row tells whether another page follows without a second query.
        rows = await self._store.list_channels(scope, channel_filter, after, size + 1)
        page = rows[:size]
        next_token = encode_page_token([page[-1][0]], query) if len(rows) > size else ""
        return Page([channel for _, channel in page], next_token)

    async def list_accounts(
        self, scope: Scope, requested_size: int, page_token: str
    ) -> Page[tuple[str, int]]:
        """The accounts with channels, by id, each with its number of channels."""
        size = page_size(requested_size)
        query = {"account_id": repr(scope.account_id)}
        position = decode_page_token(page_token, query, str, length=1)
        rows = await self._store.list_accounts(
            scope, position[0] if position is not None else None, size + 1
        )
        page = rows[:size]
        next_token = encode_page_token([page[-1][0]], query) if len(rows) > size else ""
        return Page(page, next_token)

    async def update(
        self,
        scope: Scope,
        channel_id: str,
        patch: ChannelSpec,
        paths: frozenset[str],
        account_id: str = "",
    ) -> Channel:
        """The channel with the fields `paths` names taken from `patch`. `account_id`, when
        set, is the account the request says the channel is in: it must be its own."""
        current = await self.get(scope, channel_id)
        check_changeable(channel_id)
        check_unchanged_account(current, account_id, "channel.account_id")
        spec = apply_update(current.spec, patch, paths)
        validate_spec(spec, self._policy)
        updated = replace(current, spec=spec, update_time=self._now())
        if spec.enabled and not current.spec.enabled:
            updated = replace(updated, disabled_reason="")
        if spec.url != current.spec.url:
            secrets = await self._active_secrets(scope, channel_id)
            updated = replace(updated, connection=await self._test(spec.url, secrets, channel_id))
        if not await self._store.update_channel(scope, updated):
            raise channel_not_found(channel_id)
        await self._on_change()
        log.info("channel updated", channel_id=channel_id, fields=sorted(paths))
        return updated

    async def delete(self, scope: Scope, channel_id: str) -> None:
        require_id(channel_id)
        check_changeable(channel_id)
        if not await self._store.delete_channel(scope, channel_id):
            raise channel_not_found(channel_id)
        await self._on_change()
        log.info("channel deleted", channel_id=channel_id)

    async def test_saved(self, scope: Scope, channel_id: str) -> ConnectionStatus:
        channel = await self.get(scope, channel_id, "channel_id")
        secrets = await self._active_secrets(scope, channel_id)
        status = await self._test(channel.spec.url, secrets, channel_id)
        await self._store.set_connection_status(scope, channel_id, status)
        return status

    async def test_url(self, url: str) -> ConnectionStatus:
        try:
            check_url(url, self._policy)
        except UrlRefused as refused:
            raise InvalidArgument.field("url", refused.message, reason=refused.reason) from None
        throwaway = new_secret(self._random_bytes(SECRET_BYTES))
        return await self._test(url, [throwaway], channel_id="")

    async def rotate_secret(
        self, scope: Scope, channel_id: str, grace_period: timedelta | None
    ) -> tuple[str, datetime]:
        """The new secret, and when the previous one stops signing."""
        require_id(channel_id)
        check_changeable(channel_id)
        grace = DEFAULT_GRACE_PERIOD if grace_period is None else grace_period
        if not timedelta(0) <= grace <= MAX_GRACE_PERIOD:
            raise InvalidArgument.field("grace_period", "must be from 0 to 7 days")
        now = self._now()
        secret = new_secret(self._random_bytes(SECRET_BYTES))
        if not await self._store.rotate_secret(scope, channel_id, secret, now, now + grace):
            raise channel_not_found(channel_id)
        await self._on_change()
        log.info(
            "signing secret rotated", channel_id=channel_id, grace_seconds=grace.total_seconds()
        )
        return secret, now + grace

    async def _active_secrets(self, scope: Scope, channel_id: str) -> list[str]:
        return active_secrets(await self._store.signing_secrets(scope, channel_id), self._now())

    async def _test(self, url: str, secrets: list[str], channel_id: str) -> ConnectionStatus:
        webhook_id = _random_id("msg_test_", self._random_bytes(ID_BYTES))
        status = await self._test_connection(
            ConnectionTest(url, secrets, channel_id, webhook_id, self._now())
        )
        log.info(
            "connection tested",
            channel_id=channel_id,
            state=status.state.value,
            http_status=status.http_status,
            message=status.message,
        )
        return status

    async def redeliver(
        self, scope: Scope, channel_id: str, event_id: str | None, failed_since: datetime | None
    ) -> int:
        """Schedule one event, or every delivery given up since a time, again; how many."""
        require_id(channel_id, "channel_id")
        if event_id is None and failed_since is None:
            raise InvalidArgument.field("scope", "set event_id or failed_since")
        if event_id is not None and (violation := event_id_violation(event_id)):
            raise InvalidArgument(violation)
        await self.get(scope, channel_id, "channel_id")
        count = await self._store.redeliver(scope, channel_id, event_id, failed_since, self._now())
        if event_id is not None and count == 0:
            raise NotFound(
                f"event {event_id!r} was never matched to channel {channel_id!r}",
                reason="DELIVERY_NOT_FOUND",
            )
        self._on_redeliver()
        log.info("redelivery scheduled", channel_id=channel_id, deliveries=count)
        return count

    async def health(self, channel_ids: list[str]) -> dict[str, tuple[ChannelHealth, int]]:
        """Each channel's circuit and failure record with its count of waiting deliveries."""
        pending = await self._store.pending_deliveries(channel_ids)
        return {
            channel_id: (self._health_of(channel_id), pending.get(channel_id, 0))
            for channel_id in channel_ids
        }
