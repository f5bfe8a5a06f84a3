"""Versioned schema migrations: numbered SQL files applied in order, each in its own
transaction together with `PRAGMA user_version`, so that a crash leaves either the old or the
new schema and running them again changes nothing."""

from dataclasses import dataclass
from importlib.resources import files

import aiosqlite

from deskhook.store.base import StoreOpenError


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    found = [
        Migration(int(resource.name.split("_", 1)[0]), resource.name, resource.read_text("utf-8"))
        for resource in files("deskhook.store.sqlite").joinpath("migrations").iterdir()
        if resource.name.endswith(".sql")
    ]
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


async def migrate(connection: aiosqlite.Connection) -> int:
    """Apply the migrations newer than the database; return the resulting schema version."""
    migrations = load_migrations()
    async with connection.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    if current > len(migrations):
        raise StoreOpenError(
            f"the database has schema version {current}, newer than this deskhook knows "
            f"({len(migrations)}); upgrade deskhook"
        )
    for migration in migrations[current:]:
        # executescript commits any open transaction first, so BEGIN/COMMIT here make the
        # migration and its version number one atomic step.
        await connection.executescript(
            f"BEGIN IMMEDIATE;\n{migration.sql}\n"
            f"PRAGMA user_version = {migration.version};\nCOMMIT;"
        )
    return max(current, len(migrations))
