"""A SQLite database holds signing secrets and ticket data: deskhook creates its file, and with
it the -wal and -shm files, for their owner alone, and warns at start of one that others may
read or write."""

import os
import stat
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from deskhook.store.sqlite.store import SqliteStore

SHARED_WARNING = "database file is open to other users; it holds signing secrets: chmod 600 it"


def modes(database: Path) -> dict[str, str]:
    """The modes of the database's files, by suffix."""
    return {
        suffix: f"{stat.S_IMODE(os.stat(f'{database}{suffix}').st_mode):04o}"
        for suffix in ("", "-wal", "-shm")
    }


async def open_and_close(database: Path) -> list[MutableMapping[str, Any]]:
    """Open the store on `database` under the usual umask; what it logged, its files' modes
    checked while open."""
    previous = os.umask(0o022)
    try:
        with capture_logs() as logs:
            store = await SqliteStore.open(str(database))
            try:
                logs.append({"modes": modes(database)})
            finally:
                await store.close()
    finally:
        os.umask(previous)
    return logs


async def test_new_database_files_are_their_owners_alone(tmp_path: Path) -> None:
    database = tmp_path / "deskhook.db"
    logs = await open_and_close(database)
    assert logs == [{"modes": {"": "0600", "-wal": "0600", "-shm": "0600"}}]


async def test_a_database_file_others_may_read_is_warned_of(tmp_path: Path) -> None:
    database = tmp_path / "deskhook.db"
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o644))
    logs = await open_and_close(database)
    warnings = [entry for entry in logs if entry.get("log_level") == "warning"]
    # SQLite gives the -wal and -shm files it creates the mode of the database file.
    assert warnings == [
        {
            "event": SHARED_WARNING,
            "file": f"{database}{suffix}",
            "mode": "0644",
            "log_level": "warning",
        }
        for suffix in ("", "-wal", "-shm")
    ]
