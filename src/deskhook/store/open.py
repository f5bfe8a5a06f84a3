"""Choose and open the store that the `database` setting names: a `postgresql://` (or
`postgres://`) URL opens the PostgreSQL store, anything else is a SQLite file."""

from deskhook.store.base import Store
from deskhook.store.location import is_postgres_url
from deskhook.store.postgres.store import PostgresStore
from deskhook.store.sqlite.store import SqliteStore


async def open_store(database: str) -> Store:
    if is_postgres_url(database):
        return await PostgresStore.open(database)
    return await SqliteStore.open(database)
