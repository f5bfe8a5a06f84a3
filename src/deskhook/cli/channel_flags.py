"""The settable fields of a channel as flags, shared by `channels create` and `channels update`.

Each flag's dest is the proto field it sets and defaults to None, so the flags given are
exactly the update mask."""

import argparse
from datetime import timedelta
from typing import Any

from google.protobuf import json_format

from deskhook.cli.enums import EVENT_TYPES, ORDERINGS, TICKET_EVENT_TYPES
from deskhook.cli.values import delays
from deskhook.v1 import channel_pb2

FIELDS = (
    "name",
    "url",
    "department_id",
    "subscriptions",
    "retries_enabled",
    "retry_schedule",
    "enabled",
    "ordering",
    "max_concurrency",
    "rate_limit_per_second",
)


def add_channel_flags(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """`required`: name, URL, department and events must be given (create)."""
    group = parser.add_argument_group("channel fields")
    add = group.add_argument
    add("--name", required=required, help="a name people recognise the channel by")
    add("--url", required=required, help="the HTTPS URL the webhooks are POSTed to")
    add(
        "--department",
        dest="department_id",
        type=int,
        metavar="ID",
        required=required,
        help="deliver events of this department's tickets",
    )
    add(
        "--event",
        dest="subscriptions",
        action="append",
        choices=TICKET_EVENT_TYPES,
        metavar="TYPE",
        required=required,
        help="an event type that sends a webhook; repeat for several (update: replaces them)."
        f" One of: {', '.join(TICKET_EVENT_TYPES)}",
    )
    _add_switch(
        group,
        "retries_enabled",
        ("--retries", "send failed attempts again, following the retry schedule"),
        ("--no-retries", "one attempt per event (the default on create)"),
    )
    add(
        "--retry-schedule",
        type=delays,
        metavar="DELAYS",
        help="comma-separated delays between attempts, e.g. 5s,1m,1h; '' for the default",
    )
    _add_switch(
        group,
        "enabled",
        ("--enabled", "deliver events (the default on create)"),
        ("--disabled", "keep the channel but deliver nothing"),
    )
    add("--ordering", choices=ORDERINGS.names, help="per_ticket: a ticket's events in order")
    add(
        "--max-concurrency",
        type=int,
        metavar="N",
        help="most attempts in flight at once (0: the server's default)",
    )
    add(
        "--rate-limit",
        dest="rate_limit_per_second",
        type=int,
        metavar="PER_SECOND",
        help="most attempts started per second (0: no limit)",
    )


def _add_switch(
    group: argparse._ArgumentGroup, dest: str, on: tuple[str, str], off: tuple[str, str]
) -> None:
    """Two flags, (flag, help) each, setting `dest` to True or False."""
    switch = group.add_mutually_exclusive_group()
    for (flag, help), value in ((on, True), (off, False)):
        switch.add_argument(flag, dest=dest, action="store_const", const=value, help=help)


def _json_value(field: str, value: Any) -> Any:
    if field == "subscriptions":
        return [EVENT_TYPES.values[name] for name in value]
    if field == "ordering":
        return ORDERINGS.values[value]
    if field == "retry_schedule":
        return [f"{delay // timedelta(seconds=1)}s" for delay in value]
    return value


def channel_from_flags(options: argparse.Namespace) -> tuple[channel_pb2.Channel, list[str]]:
    """The channel the flags describe, and the fields they set."""
    given = {field: value for field in FIELDS if (value := getattr(options, field)) is not None}
    channel = json_format.ParseDict(
        {field: _json_value(field, value) for field, value in given.items()},
        channel_pb2.Channel(),
    )
    return channel, list(given)
