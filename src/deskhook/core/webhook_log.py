"""The webhook log, listed from the store with filters and pages."""

from dataclasses import asdict

from deskhook.core.channel_service import channel_not_found, check_id
from deskhook.domain.accounts import Scope
from deskhook.domain.delivery import Attempt
from deskhook.domain.errors import InvalidArgument
from deskhook.domain.events import event_id_violation
from deskhook.domain.paging import Page, decode_page_token, encode_page_token, page_size
from deskhook.domain.times import to_micros
from deskhook.store.base import LogFilter, Store


class WebhookLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def check_channel(self, scope: Scope, channel_id: str) -> None:
        """NOT_FOUND unless `channel_id` names a channel the scope reaches (or is empty: every
        channel), so a mistyped id is told apart from a quiet channel."""
        check_id(channel_id, "channel_id")
        if channel_id and await self._store.get_channel(scope, channel_id) is None:
            raise channel_not_found(channel_id)

    async def list_entries(
        self, scope: Scope, log_filter: LogFilter, requested_size: int, page_token: str
    ) -> Page[Attempt]:
        check_id(log_filter.channel_id, "channel_id")
        if log_filter.event_id and (violation := event_id_violation(log_filter.event_id)):
            raise InvalidArgument(violation)
        size = page_size(requested_size)
        query = {key: str(value) for key, value in asdict(log_filter).items()}
        query["account_id"] = repr(scope.account_id)
        position = decode_page_token(page_token, query, int, length=2)
        before = (position[0], position[1]) if position is not None else None
        rows = await self._store.list_attempts(scope, log_filter, before, size + 1)
        if not rows:
            # Only now: a deleted channel's entries stay listed until retention prunes them.
            await self.check_channel(scope, log_filter.channel_id)
        page = rows[:size]
        next_token = (
            encode_page_token([to_micros(page[-1].attempted_at), page[-1].id], query)
            if len(rows) > size
            else ""
        )
        return Page(page, next_token)
