"""What the `database` setting names: a SQLite file, or a PostgreSQL server by a
`postgresql://` URL; and how to show it in a log line or an error without its password."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})
# libpq takes these in the query string too.
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
HIDDEN = "***"


def url_scheme(database: str) -> str | None:
    """The scheme of a URL (`postgresql`), None for a file path."""
    scheme, separator, _ = database.partition("://")
    return scheme.lower() if separator and scheme.isascii() and scheme.isalpha() else None


def is_postgres_url(database: str) -> bool:
    return url_scheme(database) in POSTGRES_SCHEMES


def redacted(database: str) -> str:
    """`database` with any password in a URL replaced by `***`."""
    scheme = url_scheme(database)
    if scheme is None:
        return database
    try:
        parts = urlsplit(database)
    except ValueError:  # unbalanced brackets: where the password ends is anyone's guess
        return f"{scheme}://{HIDDEN}"
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hosts = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{HIDDEN}@{hosts}"
    query = urlencode(
        [
            (name, HIDDEN if name in SECRET_PARAMETERS else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))
