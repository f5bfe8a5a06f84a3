"""Reading a listing page after page, as `channels list` and `log` do, against a listing that
serves at most four items a page, whatever is asked for."""

from collections.abc import Sequence

from deskhook.cli.paging import MAX_PAGE_SIZE, collect

ITEMS = list(range(12))
SERVED_PER_PAGE = 4


class Listing:
    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def page(self, token: str, size: int) -> tuple[Sequence[int], str]:
        self.asked.append((token, size))
        start = int(token or 0)
        end = start + min(size, SERVED_PER_PAGE)
        return ITEMS[start:end], str(end) if end < len(ITEMS) else ""


async def test_every_page_until_the_last() -> None:
    listing = Listing()
    assert await collect(listing.page) == ITEMS
    assert listing.asked == [("", MAX_PAGE_SIZE), ("4", MAX_PAGE_SIZE), ("8", MAX_PAGE_SIZE)]


async def test_a_limit_asks_for_no_more_than_it_needs() -> None:
    listing = Listing()
    assert await collect(listing.page, limit=5) == ITEMS[:5]
    assert listing.asked == [("", 5), ("4", 1)]
