"""The channels, kept in memory: matching and delivery read them without a query."""

import asyncio
from datetime import datetime

import structlog

from deskhook.domain.accounts import EVERY_ACCOUNT
from deskhook.domain.channel_spec import Channel
from deskhook.domain.events import PublishedEvent
from deskhook.domain.matching import ChannelIndex, build_index, match
from deskhook.domain.signing import SigningSecret, active_secrets, secret_key
from deskhook.store.base import Store

log = structlog.get_logger("deskhook.channels")


class ChannelDirectory:
    """The matching index, kept in memory and rebuilt whenever a channel changes, so that
    matching an event costs no query."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._index: ChannelIndex = {}
        self._channels: dict[str, Channel] = {}
        # Read on a channel's first delivery; a refresh (every change, rotations included)
        # forgets them. The generation tells a read that raced a refresh, not to be kept.
        self._secrets: dict[str, list[SigningSecret]] = {}
        self._generation = 0
        self._lock = asyncio.Lock()
        # Background refreshes (`request_refresh`): the one running, and whether another was
        # asked for since it began reading.
        self._refresher: asyncio.Task[None] | None = None
        self._stale = False
        self._closed = False

    @property
    def generation(self) -> int:
        """How many refreshes have completed."""
        return self._generation

    async def refresh(self) -> None:
        async with self._lock:
            channels = await self._store.list_all_channels(EVERY_ACCOUNT)
            self._channels = {channel.id: channel for channel in channels}
            self._index = build_index(channels)
            self._secrets = {}
            self._generation += 1

    def request_refresh(self) -> None:
        """Refresh in the background, for changes made elsewhere (another replica). Requests
        coalesce: one refresh runs at a time, and any number of requests made while it runs
        bring exactly one more after it, which sees all their changes."""
        if self._closed:
            return
        self._stale = True
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(
                self._refresh_while_stale(), name="channel-refresh"
            )

    async def refreshed(self) -> None:
        """Until the refreshes requested so far are done."""
        if self._refresher is not None:
            await asyncio.shield(self._refresher)

    async def close(self) -> None:
        """Cancel the background refresh, and take no more requests."""
        self._closed = True
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)

    async def _refresh_while_stale(self) -> None:
        while self._stale:
            self._stale = False
            try:
                await self.refresh()
            except Exception:
                # The channels stay as they were until the next change asks again (a listener
                # that lost its connection asks once it is back).
                log.exception("refreshing channels failed")

    async def signing_keys(self, channel_id: str, now: datetime) -> list[bytes]:
        """The HMAC keys that sign the channel's requests at `now`, newest first."""
        secrets = self._secrets.get(channel_id)
        if secrets is None:
            generation = self._generation
            secrets = await self._store.signing_secrets(EVERY_ACCOUNT, channel_id)
            if generation == self._generation:
                self._secrets[channel_id] = secrets
        return [secret_key(secret) for secret in active_secrets(secrets, now)]

    def channels(self) -> list[Channel]:
        return list(self._channels.values())

    def channel(self, channel_id: str) -> Channel | None:
        """The channel as last read, for deliveries: its URL, retry rules and limits."""
        return self._channels.get(channel_id)

    def match(self, event: PublishedEvent) -> tuple[str, ...]:
        return match(self._index, event)
