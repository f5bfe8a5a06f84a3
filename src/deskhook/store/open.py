"""Choose and open the store that the `database` setting names: a `postgresql://` (or
`postgres://`) URL opens the PostgreSQL store, anything else is a SQLite file."""

from deskhook.store.base import Store
from deskhook.store.location import is_postgres_url
from deskhook.store.postgres.connection import POOL_SIZE
from deskhook.store.postgres.store import PostgresStore
from deskhook.store.sqlite.connection import BUSY_TIMEOUT_MS
from deskhook.store.sqlite.store import SqliteStore


async def open_store(
    database: str, pool_size: int = POOL_SIZE, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> Store:
    """`pool_size` is the PostgreSQL store's connection pool; SQLite has its own three, whose
    statements wait `busy_timeout_ms` for another process's lock."""
    if is_postgres_url(database):
        return await PostgresStore.open(database, pool_size)
    return await SqliteStore.open(database, busy_timeout_ms)
