"""The `deskhook` command: `serve` runs the server; every other command is a client of its
public gRPC API."""

import os

# gRPC's core logs a server's GOAWAY (a restart, a shutdown) to stderr at INFO, in its own
# format; the commands say what happened in their own words. Read when gRPC is imported, so set
# before anything imports it; GRPC_VERBOSITY set by the user still wins.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import argparse
from collections.abc import Callable, Sequence

from deskhook import demo
from deskhook.cli import (
    accounts_command,
    channels_command,
    log,
    publish,
    redeliver,
    serve,
    tokens_command,
)
from deskhook.cli.command import Parser, client_flags, refuse_misplaced_client_flags
from deskhook.cli.loop import run_async

__all__ = ["build_parser", "main", "run_async"]

# Each module adds its own subcommands: a new command is one more module in this tuple.
COMMANDS = (
    serve,
    channels_command,
    log,
    redeliver,
    publish,
    tokens_command,
    accounts_command,
    demo,
)


def build_parser() -> argparse.ArgumentParser:
    # Its subcommands' parsers are of its class.
    parser = Parser(
        prog="deskhook",
        description="Outgoing webhooks for a helpdesk.",
        epilog="The server connection flags and --json are for the client commands (channels,"
        " log, redeliver, publish, tokens), before or after the command's name.",
        # Accepted before the command too, as in `deskhook --json log`.
        parents=[client_flags(defaults=False)],
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    refuse_misplaced_client_flags(parser, options)
    handler: Callable[[argparse.Namespace], int] = options.handler
    return handler(options)
