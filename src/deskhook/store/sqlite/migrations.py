"""Versioned schema migrations: numbered SQL files applied in order, each in its own
transaction together with `PRAGMA user_version`, so that a crash leaves either the old or the
new schema and running them again changes nothing."""

import aiosqlite

from deskhook.store.migration_files import load_migrations, pending_migrations

PACKAGE = "deskhook.store.sqlite"


async def migrate(connection: aiosqlite.Connection) -> int:
    """Apply the migrations newer than the database; return the resulting schema version."""
    migrations = load_migrations(PACKAGE)
    async with connection.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    # A migration that rebuilds a table (SQLite cannot drop a column's UNIQUE in place) drops the
    # old one while other tables still reference it: with foreign keys enforced, that drop would
    # cascade into them. The pragma cannot change inside a transaction, so it is set around them.
    await connection.execute("PRAGMA foreign_keys = OFF")
    try:
        for migration in pending_migrations(migrations, current):
            # executescript commits any open transaction first, so BEGIN/COMMIT here make the
            # migration and its version number one atomic step.
            await connection.executescript(
                f"BEGIN IMMEDIATE;\n{migration.sql}\n"
                f"PRAGMA user_version = {migration.version};\nCOMMIT;"
            )
    finally:
        await connection.execute("PRAGMA foreign_keys = ON")
    return max(current, len(migrations))
