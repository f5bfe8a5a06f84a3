"""The webhook log, listed from the store with filters and pages."""

from dataclasses import asdict, dataclass

from deskhook.domain.delivery import AttemptRecord
from deskhook.domain.paging import decode_page_token, encode_page_token, page_size
from deskhook.domain.times import to_micros
from deskhook.store.base import LogFilter, Store


@dataclass(frozen=True)
class LogPage:
    entries: list[AttemptRecord]
    next_page_token: str


class DeliveryLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def list_entries(
        self, log_filter: LogFilter, requested_size: int, page_token: str
    ) -> LogPage:
        size = page_size(requested_size)
        query = {key: str(value) for key, value in asdict(log_filter).items()}
        position = decode_page_token(page_token, query, length=2)
        before = (position[0], position[1]) if position is not None else None
        rows = await self._store.list_attempts(log_filter, before, size + 1)
        page = rows[:size]
        next_token = (
            encode_page_token([to_micros(page[-1].attempted_at), page[-1].id], query)
            if len(rows) > size
            else ""
        )
        return LogPage(page, next_token)
