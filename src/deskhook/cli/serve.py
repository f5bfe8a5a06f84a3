"""`deskhook serve`: its flags, one per setting of deskhook.config."""

import argparse

from deskhook.cli.command import Commands


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--config", metavar="FILE", help="TOML file with settings (env DESKHOOK_CONFIG)")
    add("--listen", metavar="HOST:PORT", help="gRPC address (default 127.0.0.1:50051)")
    add(
        "--database",
        metavar="PATH|URL",
        help="SQLite file (default ./deskhook.db) or postgresql:// URL",
    )
    add(
        "--database-pool-size",
        type=int,
        metavar="N",
        help="connections to PostgreSQL per replica (default 10)",
    )
    add("--metrics-listen", metavar="HOST:PORT", help="metrics and probes address")
    add(
        "--admin-token",
        dest="admin_tokens",
        action="append",
        metavar="TOKEN",
        help="bearer token for ChannelAdmin (repeatable)",
    )
    add(
        "--ingest-token",
        dest="ingest_tokens",
        action="append",
        metavar="TOKEN",
        help="bearer token for EventIngest (repeatable)",
    )
    add(
        "--allow-network",
        dest="allow_networks",
        action="append",
        metavar="CIDR",
        help="network exempt from the URL policy (repeatable)",
    )
    add(
        "--allow-http",
        action="store_const",
        const=True,
        help="allow plain-HTTP channel URLs (development only)",
    )
    add("--ca-bundle", metavar="FILE", help="extra CA bundle trusted for deliveries")
    add("--tls-cert", metavar="FILE", help="certificate for TLS on the gRPC port")
    add("--tls-key", metavar="FILE", help="private key for TLS on the gRPC port")
    add(
        "--max-ingest-streams",
        type=int,
        metavar="N",
        help="PublishEvents streams open at once; more are refused, to retry (1000)",
    )
    add("--retention-days", type=int, metavar="DAYS", help="keep the webhook log this long (30)")
    add("--log-level", choices=["debug", "info", "warning", "error"])
    add("--log-format", choices=["auto", "json", "console"])


def _serve(options: argparse.Namespace) -> int:
    # The server's imports (pydantic, aiosqlite, aiohttp, ...) take most of a second; only
    # `serve` needs them, so the client commands start without them.
    from deskhook.cli import serve_run  # noqa: PLC0415

    return serve_run.serve_with_flags(options)


def register(commands: Commands) -> None:
    serve_parser = commands.add_parser(
        "serve", help="run the deskhook server", argument_default=argparse.SUPPRESS
    )
    _add_setting_flags(serve_parser)
    serve_parser.set_defaults(handler=_serve)
