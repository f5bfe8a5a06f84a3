"""The PostgreSQL store: every part of the Store interface over one database that several
deskhook replicas may share."""

from deskhook.store.postgres.access_token_tables import AccessTokenTables
from deskhook.store.postgres.channel_tables import ChannelTables
from deskhook.store.postgres.connection import unavailable
from deskhook.store.postgres.deliveries import DeliveryTables
from deskhook.store.postgres.events import EventTables
from deskhook.store.postgres.listen import Listening
from deskhook.store.postgres.webhook_log import WebhookLogTables
from deskhook.store.unavailable import unavailable_when


@unavailable_when(unavailable)
class PostgresStore(
    ChannelTables, EventTables, DeliveryTables, WebhookLogTables, AccessTokenTables, Listening
):
    """For several replicas on one database: claims are leases in the table, and each replica
    hears of the others' commits (LISTEN/NOTIFY)."""
