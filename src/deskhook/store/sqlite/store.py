"""The SQLite store: one file, WAL, foreign keys on."""

import sqlite3
from pathlib import Path
from typing import Self

import aiosqlite

from deskhook.store.base import StoreOpenError
from deskhook.store.sqlite.migrations import migrate

# A writer waits this long for another connection's lock before failing.
BUSY_TIMEOUT_MS = 5000


class SqliteStore:
    def __init__(self, connection: aiosqlite.Connection, version: int) -> None:
        self._db = connection
        self._version = version

    @classmethod
    async def open(cls, path: str) -> Self:
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            connection = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise StoreOpenError(f"cannot open SQLite database {path}: {error}") from error
        try:
            for pragma in (
                "PRAGMA journal_mode = WAL",
                # FULL: a commit that was acked survives a power loss, not only a crash.
                "PRAGMA synchronous = FULL",
                "PRAGMA foreign_keys = ON",
                f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
            ):
                await connection.execute(pragma)
            version = await migrate(connection)
        except sqlite3.Error as error:
            await connection.close()
            raise StoreOpenError(f"cannot prepare SQLite database {path}: {error}") from error
        except BaseException:
            await connection.close()
            raise
        return cls(connection, version)

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        return self._version
