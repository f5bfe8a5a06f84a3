"""The SQLite store's connections: one file, WAL, foreign keys on.

Three connections: writes go through one, serialised by a lock so that coroutines never
interleave statements inside each other's transactions; reads use another and, thanks to WAL,
see only committed data without waiting for writers. A connection's snapshot lasts while any of
its statements is open, so each read runs and fetches in one call (`_read`): a statement left
open between calls would lend its old snapshot to the next read, which would miss a commit made
meanwhile. Claims have the third connection to themselves, so that they never queue behind a
slow read."""

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Self

import aiosqlite
import structlog

from deskhook.domain.breaker import ChannelHealth
from deskhook.domain.errors import Unavailable
from deskhook.store.base import StoreOpenError, UnusableDatabase
from deskhook.store.process_claims import ProcessClaims
from deskhook.store.sqlite.migrations import migrate

log = structlog.get_logger("deskhook.store")

# A writer waits this long for another process's lock before failing.
BUSY_TIMEOUT_MS = 5000
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # FULL: a commit that was acked survives a power loss, not only a crash.
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
)
# The file holds signing secrets and ticket data: its owner's alone. SQLite gives its -wal
# and -shm files the mode of the database file.
FILE_MODE = 0o600
# Errors that say the file itself will not do, whenever it is tried.
UNUSABLE_FILE_ERRORS = frozenset(
    {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_PERM}
)
# Another process held a lock past the busy timeout.
BUSY_ERRORS = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _primary_code(error: sqlite3.Error) -> int:
    code: int = getattr(error, "sqlite_errorcode", 0)
    return code & 0xFF


def unavailable(error: Exception) -> Unavailable | None:
    """What a lock held by another process means to a caller (see deskhook.store.unavailable)."""
    if isinstance(error, sqlite3.Error) and _primary_code(error) in BUSY_ERRORS:
        return Unavailable(
            "the database is busy: another process holds its lock; retry", reason="DATABASE_BUSY"
        )
    return None


async def _connect(path: str, busy_timeout_ms: int) -> aiosqlite.Connection:
    connection = await aiosqlite.connect(path, isolation_level=None)
    connection.row_factory = sqlite3.Row
    try:
        for pragma in (*PRAGMAS, f"PRAGMA busy_timeout = {busy_timeout_ms}"):
            await connection.execute(pragma)
    except BaseException:
        await connection.close()
        raise
    return connection


def _open_file(path: str) -> None:
    """Create the file for its owner alone unless it exists, in a folder that exists: a
    mistyped folder should not quietly start a new, empty database. SQLite does not say what
    is wrong with a file it cannot open, and aiosqlite, failing to, leaves a thread behind."""
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        problem = "is not a folder" if os.path.exists(folder) else "does not exist; create it first"
        raise UnusableDatabase(f"{folder}, the folder of {path}, {problem}")
    try:
        # O_NONBLOCK: opening a FIFO for reading would wait for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NONBLOCK, FILE_MODE)
    except OSError as error:
        raise UnusableDatabase(f"cannot open {path}: {error.strerror}") from error
    try:
        regular = stat.S_ISREG(os.fstat(descriptor).st_mode)
    finally:
        os.close(descriptor)
    if not regular:
        raise UnusableDatabase(f"{path} is not a regular file")


def _warn_if_shared(path: str) -> None:
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            log.warning(
                "database file is open to other users; it holds signing secrets: chmod 600 it",
                file=name,
                mode=f"{mode:04o}",
            )


async def _check_writable(connection: aiosqlite.Connection, version: int) -> None:
    """Write to the file and roll back: SQLite opens a file it may not write read-only,
    without a word, and only the first write would fail."""
    await connection.execute("BEGIN IMMEDIATE")
    try:
        await connection.execute(f"PRAGMA user_version = {version}")
    finally:
        await connection.execute("ROLLBACK")


def _open_error(doing: str, path: str, error: sqlite3.Error) -> StoreOpenError:
    kind = UnusableDatabase if _primary_code(error) in UNUSABLE_FILE_ERRORS else StoreOpenError
    return kind(f"cannot {doing} SQLite database {path}: {error}")


class SqliteConnections(ProcessClaims):
    """The connections and the transaction discipline every part of the store shares. One
    process owns a SQLite file, so claims live in that process."""

    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        claimer: aiosqlite.Connection,
        version: int,
    ) -> None:
        super().__init__()
        self._writer = writer
        self._reader = reader
        self._claimer = claimer
        self._version = version
        self._write_lock = asyncio.Lock()
        # The writer's synchronous level: FULL (as PRAGMAS set it) while durable.
        self._durable = True
        # Every channel's stored health, read on first use and then kept in step by the one
        # writer of it, this process: claims read it without a query.
        self._health: dict[str, ChannelHealth] | None = None

    @classmethod
    async def open(cls, path: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Self:
        """`busy_timeout_ms`: how long a statement waits for another process's lock."""
        in_memory = path == ":memory:"
        if not in_memory:
            _open_file(path)
        try:
            writer = await _connect(path, busy_timeout_ms)
        except sqlite3.Error as error:
            raise _open_error("open", path, error) from error
        readers: list[aiosqlite.Connection] = []
        try:
            version = await migrate(writer)
            await _check_writable(writer, version)
            for _ in range(2):
                readers.append(await _connect(path, busy_timeout_ms))
        except BaseException as error:
            for connection in (*readers, writer):
                await connection.close()
            if isinstance(error, sqlite3.Error):
                raise _open_error("use", path, error) from error
            raise
        if not in_memory:
            _warn_if_shared(path)
        reader, claimer = readers
        return cls(writer, reader, claimer, version)

    async def close(self) -> None:
        await self._claimer.close()
        await self._reader.close()
        await self._writer.close()

    async def schema_version(self) -> int:
        return self._version

    @asynccontextmanager
    async def _transaction(self, *, durable: bool = True) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction. `durable=False` is for the attempt log: it skips the fsync, as a
        power loss can only lose the newest such commits, and that costs a resend with the same
        webhook-id. The WAL is written in order,
        so the next durable commit's fsync makes everything before it durable too."""
        async with self._write_lock:
            if durable is not self._durable:
                level = "FULL" if durable else "NORMAL"
                await self._writer.execute(f"PRAGMA synchronous = {level}")
                self._durable = durable
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    async def _read(
        self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()
    ) -> list[sqlite3.Row]:
        """The rows of one query on the reader, run to completion in one call."""
        return list(await self._reader.execute_fetchall(sql, parameters))

    async def _write(self, sql: str, parameters: dict[str, object]) -> int:
        """Run one statement in its own transaction; the number of rows it changed."""
        async with self._transaction() as db, db.execute(sql, parameters) as cursor:
            return cursor.rowcount
