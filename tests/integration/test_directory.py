"""The channel directory's background refreshes, asked for whenever another replica changed a
channel: requests coalesce, so that a burst of changes costs a bounded number of reads, and a
request made while a refresh reads still brings one more read after it."""

import asyncio

from deskhook.store.directory import ChannelDirectory
from tests.support.store_items import add_channels, opened


async def test_refresh_requests_coalesce(database: str) -> None:
    async with opened(database) as store:
        await add_channels(store, "a")
        directory = ChannelDirectory(store)
        for _ in range(100):
            directory.request_refresh()
        await directory.refreshed()
        assert directory.generation == 1
        assert directory.channel("a") is not None

        directory.request_refresh()
        # One turn of the loop: that refresh has begun reading.
        await asyncio.sleep(0)
        for _ in range(100):
            directory.request_refresh()
        await directory.refreshed()
        assert directory.generation == 3
        await directory.close()


async def test_no_refresh_starts_once_closed(database: str) -> None:
    async with opened(database) as store:
        directory = ChannelDirectory(store)
        await directory.close()
        directory.request_refresh()
        await directory.refreshed()
        assert directory.generation == 0
