"""The per-stream window holds a reader back while too many events or bytes are in flight."""

import asyncio

from deskhook.api.event_ingest import Window


async def settle() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_acquire_waits_until_events_are_released() -> None:
    window = Window(events=10, size=1_000_000)
    await window.acquire(8, 100)
    blocked = asyncio.create_task(window.acquire(5, 100))
    await settle()
    assert not blocked.done()
    await window.release(8, 100)
    await asyncio.wait_for(blocked, timeout=1)


async def test_acquire_waits_until_bytes_are_released() -> None:
    window = Window(events=1000, size=1000)
    await window.acquire(1, 900)
    blocked = asyncio.create_task(window.acquire(1, 200))
    await settle()
    assert not blocked.done()
    await window.release(1, 900)
    await asyncio.wait_for(blocked, timeout=1)


async def test_a_message_larger_than_the_window_passes_when_it_is_empty() -> None:
    window = Window(events=10, size=1000)
    await asyncio.wait_for(window.acquire(50, 5000), timeout=1)
    blocked = asyncio.create_task(window.acquire(1, 1))
    await settle()
    assert not blocked.done()
    await window.release(50, 5000)
    await asyncio.wait_for(blocked, timeout=1)
