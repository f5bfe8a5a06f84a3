"""`deskhook serve`: its flags, one per setting of deskhook.config."""

import argparse
from typing import Any

from deskhook.cli.command import Commands

DESCRIPTION = (
    "Run the deskhook server: the ChannelAdmin and EventIngest gRPC services, the delivery of "
    "webhooks, and the metrics and probes endpoint, over one database. Each setting comes from "
    "its flag, else its DESKHOOK_* environment variable, else the TOML file named by --config, "
    "else its default. A bad setting stops start-up with one line naming it (exit status 2)."
)


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    def add(flag: str, help: str, default: str = "", **options: Any) -> None:
        # Values are checked by deskhook.config (not argparse), so that a bad one is reported
        # in the same one line whichever source it came from.
        dest = options.get("dest", flag.removeprefix("--").replace("-", "_"))
        shown = f"default {default}; " if default else ""
        parser.add_argument(flag, help=f"{help} ({shown}env DESKHOOK_{dest.upper()})", **options)

    add(
        "--config",
        "TOML file of settings, keyed as the variables below in lower case without DESKHOOK_",
        metavar="FILE",
    )
    add("--listen", "gRPC address", "127.0.0.1:50051", metavar="HOST:PORT")
    add(
        "--database",
        "SQLite file, in a folder that exists, or postgresql:// URL",
        "./deskhook.db",
        metavar="PATH|URL",
    )
    add(
        "--database-pool-size",
        "connections to PostgreSQL per replica, 1-1000",
        "10",
        metavar="N",
    )
    add(
        "--metrics-listen",
        "address of the unauthenticated /metrics, /livez and /readyz endpoint; '' turns it off",
        "127.0.0.1:9464",
        metavar="HOST:PORT",
    )
    add(
        "--console-listen",
        "address of the console and the JSON API; '' turns them off",
        "127.0.0.1:8080",
        metavar="HOST:PORT",
    )
    add(
        "--console-frame-ancestors",
        "origin allowed to show the console in a frame, repeatable; none: no framing",
        dest="console_frame_ancestors",
        action="append",
        metavar="ORIGIN",
    )
    add(
        "--admin-token",
        "bearer token for ChannelAdmin, repeatable; none: open, on loopback only",
        dest="admin_tokens",
        action="append",
        metavar="TOKEN",
    )
    add(
        "--ingest-token",
        "bearer token for EventIngest, repeatable; none: open, on loopback only",
        dest="ingest_tokens",
        action="append",
        metavar="TOKEN",
    )
    add(
        "--allow-network",
        "network exempt from the URL policy, repeatable",
        dest="allow_networks",
        action="append",
        metavar="CIDR",
    )
    add(
        "--allow-http",
        "allow plain-HTTP channel URLs, for development",
        "off",
        action="store_const",
        const=True,
    )
    add("--ca-bundle", "PEM CA bundle trusted for deliveries besides the system's", metavar="FILE")
    add("--tls-cert", "PEM certificate for TLS on the gRPC port; with --tls-key", metavar="FILE")
    add("--tls-key", "PEM private key for TLS on the gRPC port; with --tls-cert", metavar="FILE")
    add(
        "--max-ingest-streams",
        "PublishEvents streams open at once; more are refused, to retry; 1-100000",
        "1000",
        metavar="N",
    )
    add(
        "--max-channels-per-account",
        "channels one account may have; more are refused; 1-1000000",
        "1000",
        metavar="N",
    )
    add("--retention-days", "days the webhook log is kept, 1-3650", "30", metavar="DAYS")
    add(
        "--console-url",
        "the console's public base URL, for the sign-in links of minted tokens; '' for none",
        metavar="URL",
    )
    add("--log-level", "debug, info, warning or error", "info", metavar="LEVEL")
    add(
        "--log-format",
        "json, console, or auto: console on a terminal, else json",
        "auto",
        metavar="FORMAT",
    )


def _serve(options: argparse.Namespace) -> int:
    # The server's imports (pydantic, aiosqlite, aiohttp, ...) take most of a second; only
    # `serve` needs them, so the client commands start without them.
    from deskhook.cli import serve_run  # noqa: PLC0415

    return serve_run.serve_with_flags(options)


def register(commands: Commands) -> None:
    serve_parser = commands.add_parser(
        "serve",
        help="run the deskhook server",
        description=DESCRIPTION,
        argument_default=argparse.SUPPRESS,
    )
    _add_setting_flags(serve_parser)
    serve_parser.set_defaults(handler=_serve)
