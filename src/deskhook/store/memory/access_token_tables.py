"""Token keys and revocations in memory (docs/design.md §11)."""

from collections.abc import Sequence
from datetime import datetime

from deskhook.domain.access_tokens import AccessTokenKey


class AccessTokenTables:
    def __init__(self) -> None:
        self._token_keys: dict[str, AccessTokenKey] = {}
        self._revocations: dict[str, datetime] = {}

    async def access_token_keys(self) -> list[AccessTokenKey]:
        return sorted(
            self._token_keys.values(), key=lambda key: (key.create_time, key.id), reverse=True
        )

    async def add_access_token_key(
        self, key: AccessTokenKey, unless_created_after: datetime
    ) -> bool:
        # One coroutine at a time runs between awaits: the check and the add are one step.
        if any(known.create_time > unless_created_after for known in self._token_keys.values()):
            return False
        self._token_keys[key.id] = key
        return True

    async def delete_access_token_keys(self, key_ids: Sequence[str]) -> None:
        for key_id in key_ids:
            self._token_keys.pop(key_id, None)

    async def revoke_access_tokens(
        self, account_id: str, before: datetime, forget_before: datetime
    ) -> datetime:
        self._revocations = {
            account: revoked
            for account, revoked in self._revocations.items()
            if revoked >= forget_before
        }
        stored = max(before, self._revocations.get(account_id, before))
        self._revocations[account_id] = stored
        return stored

    async def access_token_revocations(self) -> dict[str, datetime]:
        return dict(self._revocations)
