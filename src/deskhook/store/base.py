"""The storage interface. Everything outside `deskhook.store` talks to a `Store`; the SQLite
implementation is the default and a PostgreSQL one can join it behind the same protocol."""

from typing import Protocol


class StoreOpenError(Exception):
    """The database cannot be opened or migrated; the message says which and why."""


class Store(Protocol):
    async def close(self) -> None:
        """Finish pending writes and release the database."""
        ...

    async def schema_version(self) -> int:
        """The number of the last migration applied."""
        ...
