"""Hearing the other replicas' commits: LISTEN on the topics that writes notify (see `notify`).

The store listens on a connection of its own, since pool connections keep no session state.
A lost connection is replaced after a backoff, and notifications sent meanwhile are gone, so
the listener is then told of both kinds of change once. A connection dropped without a word (a
firewall forgetting it) says nothing until used: a ping finds it."""

import asyncio
import contextlib

import asyncpg
import structlog

from deskhook.store.base import StoreListener, StoreOpenError
from deskhook.store.location import redacted
from deskhook.store.postgres.connection import (
    CONNECT_ERRORS,
    CONNECT_TIMEOUT_SECONDS,
    PostgresConnections,
)
from deskhook.store.postgres.notify import CHANNELS_CHANGED, DELIVERIES_DUE

log = structlog.get_logger("deskhook.store")

# How the listening session shows in pg_stat_activity.
APPLICATION_NAME = "deskhook listener"
# A closed connection is noticed at once; one dropped silently, at the next ping. The pings
# also keep firewalls and load balancers from forgetting an idle connection.
PING_INTERVAL_SECONDS = 15.0
PING_TIMEOUT_SECONDS = 5.0
FIRST_RETRY_SECONDS = 0.1
MAX_RETRY_SECONDS = 5.0


def retry_delay(failures: int) -> float:
    """Seconds to wait before connecting again after `failures` failures in a row: doubling,
    up to MAX_RETRY_SECONDS (the exponent capped, so that no outage is long enough to overflow
    it)."""
    return min(FIRST_RETRY_SECONDS * 2.0 ** min(failures, 10), MAX_RETRY_SECONDS)


class NotificationListener:
    """Hears the topics on a connection of its own from `start()` until `stop()`, and calls
    `listener` for every notification but those whose payload is `own`."""

    def __init__(self, url: str, own: str, listener: StoreListener) -> None:
        self._url = url
        self._own = own
        self._callbacks = {
            DELIVERIES_DUE: listener.deliveries_due,
            CHANNELS_CHANGED: listener.channels_changed,
        }
        self._connection: asyncpg.Connection | None = None
        # Set when the current connection closes, whoever closed it.
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Return once listening: whatever commits from now on is heard."""
        connection = await self._connect()
        self._task = asyncio.create_task(self._keep_listening(connection), name="store-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close(timeout=CONNECT_TIMEOUT_SECONDS)

    async def _connect(self) -> asyncpg.Connection:
        connection = await asyncpg.connect(
            self._url,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost = self._lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        try:
            for topic in self._callbacks:
                await connection.add_listener(topic, self._heard)
        except BaseException:
            connection.terminate()
            raise
        self._connection = connection
        return connection

    def _heard(self, _connection: object, _pid: int, topic: str, payload: object) -> None:
        if payload != self._own:
            self._callbacks[topic]()

    async def _keep_listening(self, connection: asyncpg.Connection) -> None:
        while True:
            await self._until_lost(connection)
            log.warning("listening connection lost; reconnecting", database=redacted(self._url))
            connection.terminate()
            connection = await self._reconnect()
            # What was sent while nobody listened is unknown: it may have been anything.
            for callback in self._callbacks.values():
                callback()

    async def _until_lost(self, connection: asyncpg.Connection) -> None:
        """Until the connection closes, or fails to answer a ping."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PING_INTERVAL_SECONDS):
                    await self._lost.wait()
            if self._lost.is_set():
                return
            try:
                await connection.execute("SELECT 1", timeout=PING_TIMEOUT_SECONDS)
            except CONNECT_ERRORS:
                return

    async def _reconnect(self) -> asyncpg.Connection:
        """A new listening connection, retried with backoff until one is made (or stop())."""
        failures = 0
        while True:
            await asyncio.sleep(retry_delay(failures))
            try:
                connection = await self._connect()
            except CONNECT_ERRORS as error:
                failures += 1
                log.warning("cannot listen yet", error=str(error), failures=failures)
                continue
            log.info("listening again", failures=failures)
            return connection


class Listening(PostgresConnections):
    """The store's part that listens for the other replicas' notifications."""

    _listener: NotificationListener | None = None

    async def listen(self, listener: StoreListener) -> None:
        """Calls `listener` on every change another store commits, from the return until
        `close()`; after the listening connection was lost and replaced, once for each kind."""
        notifications = NotificationListener(self._url, self._sender, listener)
        try:
            await notifications.start()
        except CONNECT_ERRORS as error:
            raise StoreOpenError(
                f"cannot listen on PostgreSQL {redacted(self._url)}: {error}"
            ) from error
        self._listener = notifications

    async def close(self) -> None:
        try:
            if self._listener is not None:
                await self._listener.stop()
        finally:
            await super().close()
