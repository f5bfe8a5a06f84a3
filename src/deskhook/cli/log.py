"""`deskhook log`: the webhook log, newest first, or followed live with `--follow`."""

import argparse
import sys

import grpc

from deskhook.cli.command import EXIT_FAILED, Commands, UsageError, add_client_command
from deskhook.cli.enums import EVENT_TYPES, OUTCOMES
from deskhook.cli.output import milliseconds, print_json, say, show_all, table, when
from deskhook.cli.paging import collect
from deskhook.cli.stubs import AdminStub, admin_stub
from deskhook.cli.values import add_account_flag, point_in_time
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_pb2

COLUMNS = ("TIME", "CHANNEL", "EVENT", "TYPE", "TICKET", "ATTEMPT", "HTTP", "OUTCOME", "TOOK")
# The live stream filters by channel and account only.
_LIST_ONLY_FILTERS = ("ticket_id", "event_type", "outcome", "event_id", "since", "until")


def _cells(entry: channel_pb2.DeliveryLogEntry) -> tuple[str, ...]:
    outcome = OUTCOMES.name(entry.outcome)
    return (
        when(entry.attempted_at),
        entry.channel_id,
        entry.event_id,
        EVENT_TYPES.name(entry.event_type),
        entry.ticket_number or str(entry.ticket_id),
        str(entry.attempt),
        str(entry.http_status or "-"),
        f"{outcome}: {entry.error}" if entry.error else outcome,
        milliseconds(entry.duration),
    )


def log_request(options: argparse.Namespace) -> admin_pb.ListDeliveryLogRequest:
    request = admin_pb.ListDeliveryLogRequest(
        channel_id=options.channel,
        ticket_id=options.ticket_id,
        event_type=EVENT_TYPES.value(options.event_type),
        outcome=OUTCOMES.value(options.outcome),
        event_id=options.event_id,
        account_id=options.account,
    )
    if options.since:
        request.start_time.FromDatetime(options.since)
    if options.until:
        request.end_time.FromDatetime(options.until)
    return request


async def _list(stub: AdminStub, options: argparse.Namespace) -> int:
    request = log_request(options)

    async def page(token: str, size: int) -> tuple[list[channel_pb2.DeliveryLogEntry], str]:
        request.page_token, request.page_size = token, size
        response = await stub.ListDeliveryLog(request)
        return list(response.entries), response.next_page_token

    entries = await collect(page, options.limit or None)
    view = table(*COLUMNS)
    for entry in entries:
        view.add_row(*_cells(entry))
    show_all(options.json, entries, view, none="no entries")
    return 0


async def _follow(stub: AdminStub, options: argparse.Namespace) -> int:
    call = stub.WatchDeliveryLog(
        admin_pb.WatchDeliveryLogRequest(channel_id=options.channel, account_id=options.account)
    )
    # The server sends its headers once the watcher is registered: every later attempt counts.
    await call.initial_metadata()
    # A call that failed at once ends below, its error told as any call's.
    following = not call.done()
    if following:
        say("deskhook: following the webhook log; Ctrl-C stops", sys.stderr)
    try:
        async for response in call:
            if response.skipped_entries:
                say(
                    f"deskhook: missed {response.skipped_entries} entries by reading too slowly;"
                    " `deskhook log` lists them",
                    sys.stderr,
                )
            if options.json:
                print_json(response.entry)
            else:
                say("  ".join(_cells(response.entry)))
    except grpc.aio.AioRpcError as error:
        if not following or error.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        # Not "cannot reach": it was reached, and went away (a restart, a shutdown).
        say(
            f"deskhook: the server at {options.server} ended the stream; it may be shutting"
            " down: run the command again to follow on",
            sys.stderr,
        )
        return EXIT_FAILED
    return 0


async def _log(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    if not options.follow:
        return await _list(admin_stub(channel), options)
    if any(getattr(options, name) for name in _LIST_ONLY_FILTERS):
        raise UsageError("--follow filters by --channel and --account only")
    return await _follow(admin_stub(channel), options)


def register(commands: Commands) -> None:
    log = add_client_command(
        commands,
        "log",
        _log,
        "the webhook log: every delivery attempt, newest first",
        "The webhook log: every delivery attempt, newest first. With --json, one "
        "DeliveryLogEntry per line.",
    )
    add = log.add_argument
    add("--channel", default="", metavar="ID", help="attempts for this channel")
    add_account_flag(log, "attempts of this account only ('' for the default account)")
    add("--ticket", dest="ticket_id", type=int, metavar="ID", help="attempts for this ticket id")
    add(
        "--event",
        dest="event_type",
        choices=EVENT_TYPES.names,
        metavar="TYPE",
        help="attempts for this event type, e.g. ticket_create",
    )
    add("--event-id", default="", metavar="ID", help="attempts for this event")
    add("--outcome", choices=OUTCOMES.names, help="attempts that ended so")
    add("--since", type=point_in_time, metavar="TIME", help="ISO 8601 time, or a duration ago")
    add("--until", type=point_in_time, metavar="TIME", help="ISO 8601 time, or a duration ago")
    add("--limit", type=int, default=50, metavar="N", help="at most N entries (50; 0: all)")
    add(
        "--follow",
        "-f",
        action="store_true",
        help="print attempts as they happen, until Ctrl-C (filters: --channel, --account)",
    )
