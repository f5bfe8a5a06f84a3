"""Saving a changed channel, or its connection test's result, as both database stores do:
they differ only in the one UPDATE statement (`_update`)."""

from abc import ABC, abstractmethod

from deskhook.domain.accounts import Scope
from deskhook.domain.channel_spec import Channel, ConnectionStatus
from deskhook.store import rows


class ChannelUpdates(ABC):
    async def update_channel(self, scope: Scope, channel: Channel) -> bool:
        return await self._update(scope, channel.id, rows.changed_values(channel))

    async def set_connection_status(
        self, scope: Scope, channel_id: str, status: ConnectionStatus
    ) -> bool:
        return await self._update(scope, channel_id, rows.status_values(status))

    @abstractmethod
    async def _update(self, scope: Scope, channel_id: str, values: dict[str, object]) -> bool:
        """Set `values` (columns by name) on the channel if the scope reaches it; whether it
        did."""
