"""Token keys and revocations from database rows, for both stores (docs/design.md §11)."""

from collections.abc import Iterable
from datetime import datetime

from deskhook.domain.access_tokens import AccessTokenKey
from deskhook.domain.times import from_micros
from deskhook.store.rows import Row

KEY_COLUMNS = "id, secret, create_time"


def keys_from_rows(rows: Iterable[Row]) -> list[AccessTokenKey]:
    # SQLite gives a BLOB as bytes, asyncpg a bytea as bytes too; bytes() holds either way.
    return [
        AccessTokenKey(row["id"], bytes(row["secret"]), from_micros(row["create_time"]))
        for row in rows
    ]


def revocations_from_rows(rows: Iterable[Row]) -> dict[str, datetime]:
    return {row["account_id"]: from_micros(row["revoked_before"]) for row in rows}
