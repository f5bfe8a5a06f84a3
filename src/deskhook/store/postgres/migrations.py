"""Versioned schema migrations: numbered SQL files, each recorded in `schema_migrations`.

Every pending migration runs in one transaction that first takes a transaction-scoped advisory
lock, so replicas starting together migrate once: the others wait for the lock, then find
nothing left to do. DDL is transactional in PostgreSQL, so a crash leaves the old schema or the
new one, and running them again changes nothing."""

import asyncpg

from deskhook.store.migration_files import load_migrations, pending_migrations

PACKAGE = "deskhook.store.postgres"
MIGRATION_LOCK = int.from_bytes(b"deskhook")


async def migrate(connection: asyncpg.Connection) -> int:
    """Apply the migrations newer than the database; return the resulting schema version."""
    migrations = load_migrations(PACKAGE)
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current: int = await connection.fetchval(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
        )
        for migration in pending_migrations(migrations, current):
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
    return max(current, len(migrations))
