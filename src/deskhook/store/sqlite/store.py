"""The SQLite store: every part of the Store interface over one database file."""

from deskhook.store.base import StoreListener
from deskhook.store.sqlite.access_token_tables import AccessTokenTables
from deskhook.store.sqlite.channel_tables import ChannelTables
from deskhook.store.sqlite.connection import unavailable
from deskhook.store.sqlite.deliveries import DeliveryTables
from deskhook.store.sqlite.events import EventTables
from deskhook.store.sqlite.webhook_log import WebhookLogTables
from deskhook.store.unavailable import unavailable_when


@unavailable_when(unavailable)
class SqliteStore(ChannelTables, EventTables, DeliveryTables, WebhookLogTables, AccessTokenTables):
    """The default store: one process owns the file (claims live in that process)."""

    async def listen(self, listener: StoreListener) -> None:
        """Never calls `listener`: one process owns the file, so every commit is its own, and
        that process already wakes its scheduler and refreshes its channels as it commits."""
