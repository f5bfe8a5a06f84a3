"""PostgreSQL stores sharing a database hear each other's commits (LISTEN/NOTIFY): whatever
makes deliveries due wakes the others, every channel write has them read the channels again, a
store never hears itself, and a listening connection that is lost comes back.

A store hears the commits of other sessions in the order they committed, so a notification
known to come last (another store's write) proves that nothing came before it: no wait for
something that must not happen."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

from deskhook.domain.accounts import EVERY_ACCOUNT
from deskhook.domain.channel_spec import ConnectionState, ConnectionStatus
from deskhook.store.base import Store, StoreListener
from deskhook.store.postgres.listen import APPLICATION_NAME, PING_INTERVAL_SECONDS, retry_delay
from tests.support.databases import fetch_rows
from tests.support.store_items import NOW, add_channels, claim, make_channel, matched, opened

DUE = "deliveries_due"
CHANNELS = "channels_changed"
# Far longer than a notification takes, and shorter than the listener's ping interval: a lost
# connection must be noticed as it closes, not at the next ping.
HEARD_WITHIN_SECONDS = 5
# Ends the sessions holding the claim owner locks of stores that hold claims: they crashed.
END_CLAIMING_SESSIONS = (
    "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory'"
    " AND objsubid = 2 AND objid::bigint IN (SELECT claimed_by FROM deliveries)"
)


class Heard:
    """What a store's listener was told, in order."""

    def __init__(self) -> None:
        self._calls: asyncio.Queue[str] = asyncio.Queue()
        self.listener = StoreListener(
            deliveries_due=lambda: self._calls.put_nowait(DUE),
            channels_changed=lambda: self._calls.put_nowait(CHANNELS),
        )

    async def next(self, count: int = 1) -> list[str]:
        """The next `count` calls, once they came."""
        async with asyncio.timeout(HEARD_WITHIN_SECONDS):
            return [await self._calls.get() for _ in range(count)]


@asynccontextmanager
async def listening(database: str) -> AsyncIterator[tuple[Store, Heard]]:
    """An open store, listening."""
    heard = Heard()
    async with opened(database) as store:
        await store.listen(heard.listener)
        yield store, heard


async def test_what_makes_deliveries_due_wakes_the_other_replicas(postgres_database: str) -> None:
    async with listening(postgres_database) as (_, heard), opened(postgres_database) as writer:
        await add_channels(writer, "a")
        assert await heard.next() == [CHANNELS]
        await writer.ingest([matched("e1", "a")], NOW)
        assert await heard.next() == [DUE]
        (due,) = await claim(writer, ["a"])
        await writer.release_claims([due.delivery_id])
        assert await heard.next() == [DUE]
        await writer.redeliver(EVERY_ACCOUNT, "a", "e1", None, NOW)
        assert await heard.next() == [DUE]
        async with opened(postgres_database) as leaving:
            await claim(leaving, ["a"])
        # A store that stops gives its claims back.
        assert await heard.next() == [DUE]
        async with opened(postgres_database) as crashed:
            await claim(crashed, ["a"])
            await fetch_rows(postgres_database, END_CLAIMING_SESSIONS)
            # A store that starts takes back the claims of those that are gone.
            await writer.release_claims()
            assert await heard.next() == [DUE]

        # Nothing became due: an event matching no channel, a duplicate, claims not held, and a
        # redelivery that found nothing.
        await writer.ingest([matched("e2"), matched("e1", "a")], NOW)
        await writer.release_claims([due.delivery_id])
        await writer.redeliver(EVERY_ACCOUNT, "a", None, NOW, NOW)
        await add_channels(writer, "b")
        assert await heard.next() == [CHANNELS]


async def test_every_channel_write_tells_the_other_replicas(postgres_database: str) -> None:
    async with listening(postgres_database) as (_, heard), opened(postgres_database) as writer:
        channel = make_channel("a")
        await writer.insert_channel(channel, "whsec_first", None)
        await writer.update_channel(
            EVERY_ACCOUNT, replace(channel, update_time=NOW + timedelta(seconds=1))
        )
        await writer.set_connection_status(
            EVERY_ACCOUNT, "a", ConnectionStatus(ConnectionState.ESTABLISHED)
        )
        await writer.rotate_secret(
            EVERY_ACCOUNT, "a", "whsec_second", NOW, NOW + timedelta(hours=1)
        )
        await writer.disable_channel("a", "410 Gone", NOW)
        await writer.delete_channel(EVERY_ACCOUNT, "a")
        assert await heard.next(6) == [CHANNELS] * 6

        # Writes to a channel that is gone change nothing.
        assert not await writer.update_channel(EVERY_ACCOUNT, channel)
        assert not await writer.set_connection_status(EVERY_ACCOUNT, "a", ConnectionStatus())
        assert not await writer.rotate_secret(EVERY_ACCOUNT, "a", "whsec_third", NOW, NOW)
        assert not await writer.delete_channel(EVERY_ACCOUNT, "a")
        await add_channels(writer, "b")
        await writer.ingest([matched("e1", "b")], NOW)
        assert await heard.next(2) == [CHANNELS, DUE]


async def test_a_store_does_not_hear_itself(postgres_database: str) -> None:
    async with listening(postgres_database) as (store, heard), opened(postgres_database) as other:
        await add_channels(other, "a")
        assert await heard.next() == [CHANNELS]
        await store.ingest([matched("e1", "a")], NOW)
        (due,) = await claim(store, ["a"])
        await store.release_claims([due.delivery_id])
        await store.redeliver(EVERY_ACCOUNT, "a", "e1", None, NOW)
        await add_channels(other, "b")
        assert await heard.next() == [CHANNELS]

        await add_channels(store, "c")
        await store.disable_channel("c", "410 Gone", NOW)
        await store.delete_channel(EVERY_ACCOUNT, "c")
        await other.ingest([matched("e2", "a")], NOW)
        assert await heard.next() == [DUE]


async def test_a_lost_listening_connection_comes_back(postgres_database: str) -> None:
    assert HEARD_WITHIN_SECONDS < PING_INTERVAL_SECONDS  # else a ping would find the loss
    async with listening(postgres_database) as (_, heard), opened(postgres_database) as writer:
        terminated = await fetch_rows(
            postgres_database,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE application_name = '{APPLICATION_NAME}' AND datname = current_database()",
        )
        assert terminated == [(True,)]
        # Whatever was sent while it was gone is unknown: both kinds, once.
        assert await heard.next(2) == [DUE, CHANNELS]
        await add_channels(writer, "a")
        await writer.ingest([matched("e1", "a")], NOW)
        assert await heard.next(2) == [CHANNELS, DUE]


def test_reconnecting_backs_off_to_a_bound() -> None:
    assert [retry_delay(failures) for failures in range(8)] == [
        0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0,
    ]  # fmt: skip
    assert retry_delay(100_000) == 5.0
