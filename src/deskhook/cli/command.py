"""Client commands: each runs one coroutine against the server, and every way it can fail
ends in a message and an exit status, never a traceback."""

import argparse
import sys
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, TypeAlias

import grpc

from deskhook.cli.connection import add_connection_flags, connect
from deskhook.cli.errors import describe
from deskhook.cli.loop import run_async
from deskhook.cli.output import say

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run: TypeAlias = Callable[[grpc.aio.Channel, argparse.Namespace], Awaitable[int]]

EXIT_FAILED = 1
# What a shell reports for a command stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """Refuses arguments it does not know with its own usage and name. argparse hands a
    subcommand's leftovers to the top-level parser, whose error shows the usage of `deskhook`,
    not of the command mistyped (`deskhook log --folow`)."""

    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        options, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return options, extras


class UsageError(Exception):
    """Arguments argparse let through that do not make sense together."""


def client_flags(*, defaults: bool, prog: str | None = None) -> argparse.ArgumentParser:
    """A parent parser of the flags every client command takes, before its name or after it:
    the connection and `--json`. `defaults`: flags not given take their defaults (see
    add_connection_flags); else they are left out, so that a command's own parser, which
    argparse runs after the top level's, overwrites only what was given after the name."""
    flags = argparse.ArgumentParser(prog=prog, add_help=False)
    add_connection_flags(flags, defaults=defaults)
    flags.add_argument(
        "--json",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="print proto3 JSON, one message a line, not tables",
    )
    return flags


def add_client_command(
    commands: Commands, name: str, run: Run, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name,
        help=help,
        description=description or help,
        parents=[client_flags(defaults=False)],
    )
    parser.set_defaults(handler=partial(_run_client, parser, run), client=True)
    return parser


def refuse_misplaced_client_flags(
    parser: argparse.ArgumentParser, options: argparse.Namespace
) -> None:
    """The client flags are the top-level parser's too; a command that is no client (serve,
    demo) refuses them rather than ignore them."""
    if getattr(options, "client", False):
        return
    for action in client_flags(defaults=False)._actions:
        if hasattr(options, action.dest):
            parser.error(
                f"{action.option_strings[0]} is for the client commands, not {options.command}"
            )


def tell_failure(error: grpc.aio.AioRpcError, server: str) -> None:
    """`error` on standard error, in the words of describe()."""
    first, *more = describe(error, server)
    for line in (f"deskhook: {first}", *more):
        say(line, sys.stderr)


async def _connected(run: Run, options: argparse.Namespace) -> int:
    async with connect(options) as channel:
        return await run(channel, options)


def _run_client(parser: argparse.ArgumentParser, run: Run, options: argparse.Namespace) -> int:
    # The flags given nowhere, from the environment or their defaults.
    client_flags(defaults=True, prog=parser.prog).parse_args([], options)
    try:
        return run_async(_connected(run, options))
    except UsageError as error:
        parser.error(str(error))
    except grpc.aio.AioRpcError as error:
        tell_failure(error, options.server)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
