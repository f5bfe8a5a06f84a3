"""Client commands: each runs one coroutine against the server, and every way it can fail
ends in a message and an exit status, never a traceback."""

import argparse
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeAlias

import grpc

from deskhook.cli.connection import connect, connection_flags
from deskhook.cli.errors import describe
from deskhook.cli.loop import run_async
from deskhook.cli.output import say

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run: TypeAlias = Callable[[grpc.aio.Channel, argparse.Namespace], Awaitable[int]]

EXIT_FAILED = 1
# What a shell reports for a command stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Arguments argparse let through that do not make sense together."""


def add_client_command(
    commands: Commands, name: str, run: Run, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name, help=help, description=description or help, parents=[connection_flags()]
    )
    parser.add_argument(
        "--json", action="store_true", help="print proto3 JSON, one message a line, not tables"
    )
    parser.set_defaults(handler=partial(_run_client, parser, run))
    return parser


def tell_failure(error: grpc.aio.AioRpcError, server: str) -> None:
    """`error` on standard error, in the words of describe()."""
    first, *more = describe(error, server)
    for line in (f"deskhook: {first}", *more):
        say(line, sys.stderr)


async def _connected(run: Run, options: argparse.Namespace) -> int:
    async with connect(options) as channel:
        return await run(channel, options)


def _run_client(parser: argparse.ArgumentParser, run: Run, options: argparse.Namespace) -> int:
    try:
        return run_async(_connected(run, options))
    except UsageError as error:
        parser.error(str(error))
    except grpc.aio.AioRpcError as error:
        tell_failure(error, options.server)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
