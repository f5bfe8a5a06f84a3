"""The channels, kept in memory: matching and delivery read them without a query."""

import asyncio

from deskhook.domain.channels import Channel
from deskhook.domain.events import PublishedEvent
from deskhook.domain.matching import ChannelIndex, build_index, match
from deskhook.store.base import Store


class ChannelDirectory:
    """The matching index, kept in memory and rebuilt whenever a channel changes, so that
    matching an event costs no query."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._index: ChannelIndex = {}
        self._channels: dict[str, Channel] = {}
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            channels = await self._store.list_all_channels()
            self._channels = {channel.id: channel for channel in channels}
            self._index = build_index(channels)

    def channels(self) -> list[Channel]:
        return list(self._channels.values())

    def channel(self, channel_id: str) -> Channel | None:
        """The channel as last read, for deliveries: its URL, retry rules and limits."""
        return self._channels.get(channel_id)

    def match(self, event: PublishedEvent) -> tuple[str, ...]:
        return match(self._index, event)
