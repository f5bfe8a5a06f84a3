"""Group commit: one task writes everything submitted, and what arrives while a transaction
runs goes together into the next one. Batches grow with load, so each caller waits for about
one commit, and a commit's fsync is shared by everything in it."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger("deskhook.commit")

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Submission(Generic[Item, Result]):
    items: Sequence[Item]
    done: asyncio.Future[list[Result]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter(Generic[Item, Result]):
    """`commit` writes a batch in one transaction and returns one result per item, in order."""

    def __init__(
        self,
        commit: Callable[[list[Item]], Awaitable[list[Result]]],
        *,
        name: str,
        max_batch: int,
    ) -> None:
        self._commit = commit
        self._name = name
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Submission[Item, Result] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Commit everything submitted so far, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    async def submit(self, items: Sequence[Item]) -> list[Result]:
        """One result per item, in order, once they are durably committed."""
        if self._task is None:
            raise RuntimeError(f"{self._name} is not running")
        submission: _Submission[Item, Result] = _Submission(items)
        self._queue.put_nowait(submission)
        return await submission.done

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                return
            batch, size = [first], len(first.items)
            while size < self._max_batch and not self._queue.empty():
                following = self._queue.get_nowait()
                if following is None:
                    stopping = True
                    break
                batch.append(following)
                size += len(following.items)
            await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[_Submission[Item, Result]]) -> None:
        items = [item for submission in batch for item in submission.items]
        try:
            results = await self._commit(items)
        except Exception as error:
            log.exception("commit failed", committer=self._name, items=len(items))
            for submission in batch:
                if not submission.done.done():
                    submission.done.set_exception(error)
            return
        start = 0
        for submission in batch:
            end = start + len(submission.items)
            if not submission.done.done():  # its caller may have gone; the items are stored
                submission.done.set_result(results[start:end])
            start = end
