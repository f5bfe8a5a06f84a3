"""Background tasks of the long-running loops (the pruner, the event-loop reader): stopped the
same way everywhere."""

import asyncio
import contextlib


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` (if any) and wait until it has ended, so nothing it does outlives stop()."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
