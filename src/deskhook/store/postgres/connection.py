"""The PostgreSQL store's connections: a pool for the statements, and one connection of its
own that holds this store's claim owner lock.

Several deskhook replicas may share the database, so each open store has a claim owner id: a
random number it holds a session-level advisory lock on for as long as it is open (the lock
also makes the id unique among the stores alive). The lock goes with its session, and a process
that dies takes its sessions with it, so the others can tell a dead owner's claims from a live
one's (see `deliveries`).

What must be atomic together is one statement (data-modifying CTEs) wherever the snapshot
allows, so most calls cost one round trip in autocommit. Commits are durable: the server's
default `synchronous_commit = on` stands."""

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Self

import asyncpg

from deskhook.domain.breaker import ChannelHealth
from deskhook.domain.errors import Unavailable
from deskhook.store.base import StoreOpenError, UnusableDatabase
from deskhook.store.location import redacted
from deskhook.store.postgres.migrations import migrate
from deskhook.store.postgres.notify import notify_if_any

POOL_SIZE = 10
CONNECT_TIMEOUT_SECONDS = 10.0
# The first key of the two-key advisory locks that open stores hold on their claim owner ids.
CLAIM_OWNERS = int.from_bytes(b"dhkc")
CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# Errors that say the setting itself will not do, whenever it is tried: its password or its
# database is wrong, or the database may not be written (a standby, a read-only role).
UNUSABLE_DATABASE_ERRORS = (
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.InsufficientPrivilegeError,
)


# Errors on a connection already made that say the server is down or dropped it.
LOST_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)


def _out_of_reach() -> Unavailable:
    return Unavailable("the database cannot be reached; retry", reason="DATABASE_UNAVAILABLE")


def unavailable(error: Exception) -> Unavailable | None:
    """What a lost database means to a caller (see deskhook.store.unavailable)."""
    return _out_of_reach() if isinstance(error, LOST_ERRORS) else None


async def _pool_connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """A new connection for the pool. It was made once at open, so if it cannot be made now,
    whatever the error (refused, timed out, not accepting connections), the database is out
    of reach for now."""
    try:
        return await asyncpg.connect(*args, **kwargs)
    except CONNECT_ERRORS as error:
        raise _out_of_reach() from error


def _open_error(failed: str, error: Exception) -> StoreOpenError:
    kind = UnusableDatabase if isinstance(error, UNUSABLE_DATABASE_ERRORS) else StoreOpenError
    return kind(f"{failed}: {error}")


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Pool connections keep no session state (no SET, LISTEN or session locks), so the reset
    query asyncpg would run on every release is a round trip for nothing."""


async def _take_owner_id(connection: asyncpg.Connection) -> int:
    while True:
        owner = secrets.randbelow(2**31 - 1) + 1
        if await connection.fetchval("SELECT pg_try_advisory_lock($1, $2)", CLAIM_OWNERS, owner):
            return owner


# A replica claims one pump at a time and records one batch at a time: the second connection
# of their pools serves a call that comes beside (a test's, a drain's).
SMALL_POOL_SIZE = 2
# How the claims' and the recordings' sessions plan their statements (docs/design.md §5.9),
# set once per connection so that no transaction spends a round trip saying it. A claim spent
# twice as long planning as running, and its statements walk the indexes whatever the
# parameters: one plan serves every claim. A recording's generic plan joins the deliveries it
# settles by a scan of the whole table, sized when the table was small: it is planned for its
# own arrays every time.
REUSE_PLANS = {"plan_cache_mode": "force_generic_plan"}
PLAN_EACH_TIME = {"plan_cache_mode": "force_custom_plan"}


async def _open_pool(url: str, size: int, settings: dict[str, str]) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=size,
        timeout=CONNECT_TIMEOUT_SECONDS,
        connect=_pool_connect,
        reset=_keep_session,
        server_settings=settings,
    )


@dataclass(frozen=True)
class Pools:
    """`statements` for most statements, sized by the setting; `claims` and `records` for
    claiming deliveries and recording attempts, each planning as it needs."""

    statements: asyncpg.Pool
    claims: asyncpg.Pool
    records: asyncpg.Pool

    @classmethod
    async def open(cls, url: str, size: int) -> "Pools":
        opened: list[asyncpg.Pool] = []
        try:
            for pool_size, settings in (
                (size, {}),
                (SMALL_POOL_SIZE, REUSE_PLANS),
                (SMALL_POOL_SIZE, PLAN_EACH_TIME),
            ):
                opened.append(await _open_pool(url, pool_size, settings))
        except BaseException:
            for pool in opened:
                await pool.close()
            raise
        return cls(*opened)

    async def close(self) -> None:
        for pool in (self.statements, self.claims, self.records):
            await pool.close()


class PostgresConnections:
    """The pool, the claim owner, and the transaction discipline every part shares."""

    def __init__(
        self,
        url: str,
        pools: "Pools",
        owner_session: asyncpg.Connection,
        owner: int,
        version: int,
    ) -> None:
        self._url = url
        self._pools = pools
        self._pool = pools.statements
        self._owner_session = owner_session
        self._owner = owner
        # The payload of this store's notifications, by which it knows its own.
        self._sender = str(owner)
        self._version = version
        # Each channel's health as this store last read or wrote it (every replica writes it):
        # what tells a batch of results that changes nothing worth a write.
        self._stored_health: dict[str, ChannelHealth] = {}

    @classmethod
    async def open(cls, url: str, pool_size: int = POOL_SIZE) -> Self:
        where = redacted(url)
        try:
            owner_session = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
        except ValueError as error:
            # asyncpg parses the URL as it connects: a port that is not a number, a bad query.
            raise UnusableDatabase(f"malformed PostgreSQL URL {where}: {error}") from error
        except CONNECT_ERRORS as error:
            raise _open_error(f"cannot connect to PostgreSQL {where}", error) from error
        try:
            version = await migrate(owner_session)
            owner = await _take_owner_id(owner_session)
            pools = await Pools.open(url, pool_size)
        except BaseException as error:
            await owner_session.close()
            # The pool's first connection failing says Unavailable (_pool_connect); why is its
            # cause.
            cause = error.__cause__ if isinstance(error, Unavailable) else error
            if isinstance(cause, CONNECT_ERRORS):
                raise _open_error(f"cannot prepare PostgreSQL database {where}", cause) from error
            raise
        return cls(url, pools, owner_session, owner, version)

    async def close(self) -> None:
        await self._pools.close()
        await self._owner_session.close()

    async def schema_version(self) -> int:
        return self._version

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
        """A transaction for the few writes that need a fresh snapshot after a lock."""
        async with self._pool.acquire() as connection, connection.transaction():
            yield connection

    async def _write(self, sql: str, *parameters: object, notify: str = "") -> int:
        """Run one statement; the number of rows it changed. If it changed any, `notify` names
        the topic the other replicas hear of it on, at its commit."""
        if not notify:
            return changed(await self._pool.execute(sql, *parameters))
        count: int = await self._pool.fetchval(
            f"WITH changes AS ({sql} RETURNING 1),"
            f" {notify_if_any(notify, 'changes', len(parameters) + 1)}"
            " SELECT count(*) FROM changes LEFT JOIN woken ON true",
            *parameters,
            self._sender,
        )
        return count


def changed(status: str) -> int:
    """The row count of a command status such as `UPDATE 3` or `INSERT 0 1`."""
    return int(status.rpartition(" ")[2])
