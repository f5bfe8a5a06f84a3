"""SQLite migrations run on start and are idempotent; the database is opened in WAL mode.
(PostgreSQL's are in test_postgres_store.py.)"""

import sqlite3
from pathlib import Path

import pytest

from deskhook.store.base import StoreOpenError
from deskhook.store.migration_files import load_migrations
from deskhook.store.postgres import migrations as postgres_migrations
from deskhook.store.sqlite import migrations as sqlite_migrations
from deskhook.store.sqlite.store import SqliteStore


def schema_of(path: Path) -> tuple[int, list[tuple[str, str, str]]]:
    with sqlite3.connect(path) as connection:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        objects = connection.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    return version, objects


async def test_migrations_applied_twice_leave_the_schema_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "deskhook.db"
    store = await SqliteStore.open(str(path))
    assert await store.schema_version() == len(load_migrations(sqlite_migrations.PACKAGE))
    await store.close()
    first = schema_of(path)

    store = await SqliteStore.open(str(path))
    await store.close()
    assert schema_of(path) == first
    version, objects = first
    assert version == len(load_migrations(sqlite_migrations.PACKAGE))
    assert ("table", "channels") in {(kind, name) for kind, name, _ in objects}


async def test_database_is_created_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deskhook.db"
    store = await SqliteStore.open(str(path))
    try:
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await store.close()


async def test_database_from_a_newer_deskhook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deskhook.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 999")
    with pytest.raises(StoreOpenError, match="schema version 999, newer than this deskhook"):
        await SqliteStore.open(str(path))


@pytest.mark.parametrize("package", [sqlite_migrations.PACKAGE, postgres_migrations.PACKAGE])
def test_migrations_are_numbered_without_gaps(package: str) -> None:
    versions = [migration.version for migration in load_migrations(package)]
    assert versions == list(range(1, len(versions) + 1))
