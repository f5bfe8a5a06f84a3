"""The storage interface. Everything outside `deskhook.store` talks to a `Store`; the SQLite
implementation is the default and a PostgreSQL one can join it behind the same protocol."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from deskhook.domain.channels import Channel, ConnectionStatus
from deskhook.domain.events import IngestResult, MatchedEvent


class StoreOpenError(Exception):
    """The database cannot be opened or migrated; the message says which and why."""


class DuplicateCreateRequest(Exception):
    """Another CreateChannel with the same request id was saved first."""


@dataclass(frozen=True)
class CreateRequest:
    """A client's request id with the hash of the request it came with."""

    request_id: str
    request_hash: str


@dataclass(frozen=True)
class CreatedChannel:
    """A channel found by the request id that created it, with what it was created from."""

    channel: Channel
    request_hash: str
    signing_secret: str


@dataclass(frozen=True)
class ChannelFilter:
    department_id: int | None = None
    enabled: bool | None = None


class Store(Protocol):
    async def close(self) -> None:
        """Finish pending writes and release the database."""
        ...

    async def schema_version(self) -> int:
        """The number of the last migration applied."""
        ...

    async def insert_channel(
        self, channel: Channel, signing_secret: str, request: CreateRequest | None
    ) -> None:
        """Save a new channel with its first secret. Raises DuplicateCreateRequest when the
        request id is taken."""
        ...

    async def find_created_channel(self, request_id: str) -> CreatedChannel | None: ...

    async def get_channel(self, channel_id: str) -> Channel | None: ...

    async def list_channels(
        self, channel_filter: ChannelFilter, after: int, limit: int
    ) -> list[tuple[int, Channel]]:
        """Up to `limit` channels created after the position `after` (0: from the start), in
        creation order, each with its position for the next page."""
        ...

    async def update_channel(self, channel: Channel) -> bool:
        """Save the spec, status and times of an existing channel; False if it is gone."""
        ...

    async def set_connection_status(self, channel_id: str, status: ConnectionStatus) -> bool: ...

    async def delete_channel(self, channel_id: str) -> bool: ...

    async def active_secrets(self, channel_id: str, now: datetime) -> list[str]:
        """The secrets that sign now, newest first."""
        ...

    async def rotate_secret(
        self, channel_id: str, new_secret: str, now: datetime, previous_expire_time: datetime
    ) -> bool:
        """Make `new_secret` current; the current one signs until `previous_expire_time`.
        Secrets already past their grace period are dropped. False if the channel is gone."""
        ...

    async def list_all_channels(self) -> list[Channel]:
        """Every channel, for the in-memory matching index."""
        ...

    async def ingest(self, events: Sequence[MatchedEvent], now: datetime) -> list[IngestResult]:
        """Store each event not seen before with a pending delivery per matched channel, all in
        one transaction; one result per event, in order. An event id seen earlier (or earlier in
        `events`) is a duplicate: nothing is written for it."""
        ...
