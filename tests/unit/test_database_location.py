"""The `database` setting names a SQLite file or a PostgreSQL URL, and is shown in logs and
errors without its password."""

import pytest

from deskhook.store.location import is_postgres_url, redacted


@pytest.mark.parametrize(
    ("database", "postgres"),
    [
        ("postgresql://db.internal/deskhook", True),
        ("POSTGRES://db.internal/deskhook", True),
        ("./deskhook.db", False),
        ("/var/lib/deskhook/postgresql.db", False),
    ],
)
def test_postgres_urls_and_files(database: str, postgres: bool) -> None:
    assert is_postgres_url(database) is postgres


@pytest.mark.parametrize(
    ("database", "shown"),
    [
        (
            "postgresql://deskhook:hunter2@db.internal:5432/deskhook",
            "postgresql://deskhook:***@db.internal:5432/deskhook",
        ),
        ("postgresql://deskhook:p%40ss:w@db/deskhook", "postgresql://deskhook:***@db/deskhook"),
        (
            "postgresql://deskhook@db/deskhook?sslmode=require&password=hunter2",
            "postgresql://deskhook@db/deskhook?sslmode=require&password=***",
        ),
        ("postgres://db1:5432,db2:5433/deskhook", "postgres://db1:5432,db2:5433/deskhook"),
        ("./deskhook.db", "./deskhook.db"),
    ],
)
def test_passwords_are_hidden(database: str, shown: str) -> None:
    assert redacted(database) == shown
