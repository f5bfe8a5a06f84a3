"""Channels and their signing secrets, in memory: the half of the in-memory store that the
channel admin API writes."""

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime

from deskhook.domain.accounts import Scope
from deskhook.domain.channel_spec import Channel, ConnectionStatus
from deskhook.domain.signing import SigningSecret
from deskhook.store.base import ChannelFilter, CreatedChannel, CreateRequest, DuplicateCreateRequest


@dataclass
class ChannelRow:
    """A channel as stored: `seq` orders channels by creation, `secrets` are oldest first."""

    seq: int
    channel: Channel
    secrets: list[SigningSecret]
    request: CreateRequest | None


class ChannelTables:
    def __init__(self) -> None:
        self._channels: dict[str, ChannelRow] = {}
        # Channel ids by (account, create request id).
        self._created_by: dict[tuple[str, str], str] = {}
        self._channel_seq = 0

    async def insert_channel(
        self, channel: Channel, signing_secret: str, request: CreateRequest | None
    ) -> None:
        if request is not None and (channel.account_id, request.request_id) in self._created_by:
            raise DuplicateCreateRequest(request.request_id)
        if channel.id in self._channels:
            raise ValueError(f"channel {channel.id} exists")
        self._channel_seq += 1
        secret = SigningSecret(signing_secret, None)
        self._channels[channel.id] = ChannelRow(self._channel_seq, channel, [secret], request)
        if request is not None:
            self._created_by[(channel.account_id, request.request_id)] = channel.id

    async def find_created_channel(self, account_id: str, request_id: str) -> CreatedChannel | None:
        row = self._channels.get(self._created_by.get((account_id, request_id), ""))
        if row is None or row.request is None:
            return None
        return CreatedChannel(row.channel, row.request.request_hash, row.secrets[0].secret)

    async def count_channels(self, account_id: str) -> int:
        return sum(row.channel.account_id == account_id for row in self._channels.values())

    def _row(self, scope: Scope, channel_id: str) -> ChannelRow | None:
        row = self._channels.get(channel_id)
        return row if row is not None and scope.reaches(row.channel.account_id) else None

    async def get_channel(self, scope: Scope, channel_id: str) -> Channel | None:
        row = self._row(scope, channel_id)
        return row.channel if row else None

    async def list_channels(
        self, scope: Scope, channel_filter: ChannelFilter, after: int, limit: int
    ) -> list[tuple[int, Channel]]:
        department, enabled = channel_filter.department_id, channel_filter.enabled
        found = [
            (row.seq, row.channel)
            for row in self._channels.values()
            if row.seq > after
            and scope.reaches(row.channel.account_id)
            and department in (None, row.channel.spec.department_id)
            and enabled in (None, row.channel.spec.enabled)
        ]
        return found[:limit]

    async def update_channel(self, scope: Scope, channel: Channel) -> bool:
        row = self._row(scope, channel.id)
        if row is None:
            return False
        # A channel's account never changes.
        row.channel = replace(channel, account_id=row.channel.account_id)
        return True

    async def set_connection_status(
        self, scope: Scope, channel_id: str, status: ConnectionStatus
    ) -> bool:
        row = self._row(scope, channel_id)
        if row is None:
            return False
        row.channel = replace(row.channel, connection=status)
        return True

    async def delete_channel(self, scope: Scope, channel_id: str) -> bool:
        row = self._row(scope, channel_id)
        if row is None:
            return False
        del self._channels[channel_id]
        if row.request is not None:
            del self._created_by[(row.channel.account_id, row.request.request_id)]
        return True

    async def signing_secrets(self, scope: Scope, channel_id: str) -> list[SigningSecret]:
        row = self._row(scope, channel_id)
        return row.secrets[::-1] if row else []

    async def rotate_secret(
        self,
        scope: Scope,
        channel_id: str,
        new_secret: str,
        now: datetime,
        previous_expire_time: datetime,
    ) -> bool:
        row = self._row(scope, channel_id)
        if row is None:
            return False
        row.secrets = [
            SigningSecret(secret.secret, secret.expire_time or previous_expire_time)
            for secret in row.secrets
            if secret.expire_time is None or secret.expire_time > now
        ]
        row.secrets.append(SigningSecret(new_secret, None))
        return True

    async def list_accounts(
        self, scope: Scope, after: str | None, limit: int
    ) -> list[tuple[str, int]]:
        counts = Counter(
            row.channel.account_id
            for row in self._channels.values()
            if scope.reaches(row.channel.account_id)
            and (after is None or row.channel.account_id > after)
        )
        return sorted(counts.items())[:limit]

    async def list_all_channels(self, scope: Scope) -> list[Channel]:
        return [
            row.channel for row in self._channels.values() if scope.reaches(row.channel.account_id)
        ]

    async def disable_channel(self, channel_id: str, reason: str, now: datetime) -> bool:
        row = self._channels.get(channel_id)
        if row is None or not row.channel.spec.enabled:
            return False
        spec = replace(row.channel.spec, enabled=False)
        row.channel = replace(row.channel, spec=spec, disabled_reason=reason, update_time=now)
        return True
