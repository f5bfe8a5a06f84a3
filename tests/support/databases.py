"""The databases tests run on: a SQLite file, and, when `DESKHOOK_TEST_POSTGRES` names a
PostgreSQL server (a libpq URL whose user may CREATE DATABASE), a fresh PostgreSQL database per
test, copied from a template migrated once per session.

Without the variable only SQLite runs, unless `DESKHOOK_REQUIRE_POSTGRES=1` (CI): then a
missing or unreachable server fails the PostgreSQL half instead of skipping it."""

import asyncio
import os
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from deskhook.store.location import is_postgres_url
from deskhook.store.postgres.store import PostgresStore

POSTGRES_ENV = "DESKHOOK_TEST_POSTGRES"
REQUIRE_ENV = "DESKHOOK_REQUIRE_POSTGRES"


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def backends() -> list[str]:
    """What the `database` fixture is parametrized over."""
    wanted = bool(os.environ.get(POSTGRES_ENV)) or postgres_required()
    return ["sqlite", "postgres"] if wanted else ["sqlite"]


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@dataclass(frozen=True)
class PostgresServer:
    """A reachable server and the migrated template this session copies databases from."""

    url: str
    template: str

    @classmethod
    async def prepare(cls, url: str) -> "PostgresServer":
        """Create and migrate this session's template database."""
        server = cls(url, f"deskhook_template_{uuid.uuid4().hex[:16]}")
        await server._run(f'CREATE DATABASE "{server.template}"')
        store = await PostgresStore.open(with_database(url, server.template))
        await store.close()
        return server

    async def close(self) -> None:
        await self.drop_database(with_database(self.url, self.template))

    async def create_database(self, template: str = "") -> str:
        """A new database copied from `template` (this session's migrated one by default)."""
        name = f"deskhook_test_{uuid.uuid4().hex[:16]}"
        await self._run(f'CREATE DATABASE "{name}" TEMPLATE "{template or self.template}"')
        return with_database(self.url, name)

    async def drop_database(self, url: str) -> None:
        # FORCE: a server killed by a crash test may have left sessions behind.
        await self._run(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')

    async def _run(self, statement: str) -> None:
        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()


async def fetch_rows(database: str, sql: str) -> list[tuple[Any, ...]]:
    """Run a statement on a test server's database, SQLite or PostgreSQL, and commit it: both
    stores have the same tables and columns."""
    if not is_postgres_url(database):
        with closing(sqlite3.connect(database)) as db, db:
            return db.execute(sql).fetchall()
    connection = await asyncpg.connect(database)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


WAITING = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def blocked_on_a_lock(connection: asyncpg.Connection) -> None:
    """Until some session of this database waits for a lock."""
    async with asyncio.timeout(10):
        # Polled: nothing tells one session that another one started waiting.
        while not await connection.fetchval(WAITING):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
