"""The `Store` on an embedded SQLite file, with its migrations."""
