"""Customer accounts and the scope a caller acts in (docs/design.md §10).

One deployment serves many accounts; the empty account id is the default account, which an
on-premise helpdesk never names. Accounts exist on first use: there is no registry."""

import re
from dataclasses import dataclass
from typing import Final

from deskhook.domain.errors import FieldViolation, InvalidArgument, PermissionDenied

DEFAULT_ACCOUNT: Final = ""
MAX_ACCOUNT_ID_LENGTH: Final = 64
_ACCOUNT_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def account_id_violation(account_id: str, field: str = "account_id") -> FieldViolation | None:
    """What is wrong with an account id named in `field`; None if fine (empty is the default
    account)."""
    if account_id == DEFAULT_ACCOUNT or _ACCOUNT_ID.fullmatch(account_id):
        return None
    return FieldViolation(
        field, f"must be empty or 1 to {MAX_ACCOUNT_ID_LENGTH} of A-Z a-z 0-9 . _ : -"
    )


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose rows a caller reaches: one account's (`account_id`), or every account's (an
    operator, `account_id` None). Every store query on channels, deliveries and the log takes
    one, so no caller can forget it."""

    account_id: str | None
    read_only: bool = False

    def reaches(self, account_id: str) -> bool:
        return self.account_id is None or self.account_id == account_id

    def narrowed(self, account_id: str | None) -> "Scope":
        """This scope limited to `account_id` (None: not limited). An account scope stays its
        own account: naming another one reaches nothing, as its rows do not exist for it.
        Narrowing never widens: a read-only scope stays read-only."""
        if account_id is None or self.account_id == account_id:
            return self
        if self.account_id is None:
            return Scope(account_id, self.read_only)
        return Scope(NOWHERE.account_id, self.read_only)


def account_for_create(scope: Scope, requested: str, field: str) -> str:
    """The account a new row named with `requested` (in `field`) lands in: an operator's
    choice, or an account token's own account, which may be left empty or named, but no
    other."""
    if (violation := account_id_violation(requested, field)) is not None:
        raise InvalidArgument(violation)
    if scope.account_id is None:
        return requested
    if requested not in (DEFAULT_ACCOUNT, scope.account_id):
        raise PermissionDenied(
            f"{field}: this token reaches account {scope.account_id!r} only",
            reason="ACCOUNT_NOT_ALLOWED",
        )
    return scope.account_id


# Every account: operator tokens, and deskhook's own work (delivery, pruning, matching).
EVERY_ACCOUNT: Final = Scope(None)
# No account at all: an account scope narrowed to another account. No account id holds "/", and
# every store can compare against it (PostgreSQL text cannot hold the NUL a sentinel might use).
NOWHERE: Final = Scope("/")
