"""Choose and open the store that the `database` setting names."""

from deskhook.store.base import Store
from deskhook.store.sqlite.store import SqliteStore


async def open_store(database: str) -> Store:
    return await SqliteStore.open(database)
