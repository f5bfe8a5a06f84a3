"""The store's edge for a database that cannot serve a call now: a SQLite file locked by
another process, a PostgreSQL server that is down, refuses connections or dropped one. Each
store says which of its errors mean that; whichever Store method meets one raises
`Unavailable` instead, which clients may retry, rather than an error the API can only answer
as INTERNAL."""

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from deskhook.domain.errors import Unavailable
from deskhook.store.base import Store

StoreClass = TypeVar("StoreClass", bound=type)
Method = Callable[..., Awaitable[Any]]

STORE_METHODS = tuple(
    name for name, member in vars(Store).items() if inspect.iscoroutinefunction(member)
)


def unavailable_when(
    meaning: Callable[[Exception], Unavailable | None],
) -> Callable[[StoreClass], StoreClass]:
    """A class decorator for a Store: `meaning` tells an error that means the database is
    unavailable (the Unavailable to raise) from any other (None: raised as it is)."""

    def decorate(store_class: StoreClass) -> StoreClass:
        for name in STORE_METHODS:
            setattr(store_class, name, _translating(getattr(store_class, name), meaning))
        return store_class

    return decorate


def _translating(method: Method, meaning: Callable[[Exception], Unavailable | None]) -> Method:
    @functools.wraps(method)
    async def translated(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except Exception as error:
            unavailable = meaning(error)
            if unavailable is None:
                raise
            raise unavailable from error

    return translated
