"""Versioned schema migrations as numbered SQL files in a store's `migrations/` folder: each
store has its own SQL, and both number them the same way."""

from dataclasses import dataclass
from importlib.resources import files

from deskhook.store.base import StoreOpenError


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(package: str) -> list[Migration]:
    """The migrations shipped in `package`'s `migrations/` folder, numbered 1..n in order."""
    found = [
        Migration(int(resource.name.split("_", 1)[0]), resource.name, resource.read_text("utf-8"))
        for resource in files(package).joinpath("migrations").iterdir()
        if resource.name.endswith(".sql")
    ]
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def pending_migrations(migrations: list[Migration], current: int) -> list[Migration]:
    """What a database at schema version `current` still needs. One written by a newer deskhook
    is refused rather than guessed at."""
    if current > len(migrations):
        raise StoreOpenError(
            f"the database has schema version {current}, newer than this deskhook knows "
            f"({len(migrations)}); upgrade deskhook"
        )
    return migrations[current:]
