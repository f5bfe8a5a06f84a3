"""`deskhook demo`: the whole product at work in one command, in under a minute."""

import argparse
from datetime import timedelta

from deskhook.cli.command import EXIT_FAILED, EXIT_INTERRUPTED, Commands

# A few events a second: slow enough to watch the log fill, quick enough to end in a minute.
PACE = timedelta(seconds=0.4)
TICKETS = 3
SHORT_TICKETS = 1
# Each ticket brings twelve events; the live log keeps up with far more than this.
MAX_TICKETS = 50
HELP = "run a server, a verifying receiver and sample events: deskhook at work"


def _ticket_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= MAX_TICKETS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_TICKETS}")
    return count


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--short",
        action="store_true",
        help=f"{SHORT_TICKETS} ticket, events sent at once: done in seconds (for tests)",
    )
    parser.add_argument(
        "--tickets",
        type=_ticket_count,
        metavar="N",
        help=f"sample tickets, twelve events each (default {TICKETS}, or {SHORT_TICKETS} if short)",
    )


def run(options: argparse.Namespace) -> int:
    # The server's imports take most of a second: the other commands start without them.
    from deskhook.demo import session  # noqa: PLC0415

    tickets = options.tickets or (SHORT_TICKETS if options.short else TICKETS)
    try:
        passed = session.run_demo(tickets, timedelta(0) if options.short else PACE)
    except KeyboardInterrupt:
        # Ctrl-C while watching: everything is already shut down; no traceback.
        return EXIT_INTERRUPTED
    return 0 if passed else EXIT_FAILED


def register(commands: Commands) -> None:
    """Adds `deskhook demo` to the `deskhook` command's subcommands."""
    parser = commands.add_parser("demo", help=HELP, description=HELP.capitalize() + ".")
    _add_arguments(parser)
    parser.set_defaults(handler=run)
