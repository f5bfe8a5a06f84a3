"""Reading a listing page after page (AIP-158)."""

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

MAX_PAGE_SIZE = 1000


async def collect(
    fetch_page: Callable[[str, int], Awaitable[tuple[Sequence[T], str]]], limit: int | None = None
) -> list[T]:
    """Every item, or the first `limit`. `fetch_page(page_token, page_size)` returns a page's
    items and the next page's token, empty after the last page."""
    items: list[T] = []
    token = ""
    while limit is None or len(items) < limit:
        wanted = MAX_PAGE_SIZE if limit is None else min(limit - len(items), MAX_PAGE_SIZE)
        page, token = await fetch_page(token, wanted)
        items.extend(page)
        if not token:
            break
    return items[:limit]
