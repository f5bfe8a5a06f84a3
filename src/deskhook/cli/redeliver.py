"""`deskhook redeliver`: send one event again, or every delivery given up since a time."""

import argparse

import grpc

from deskhook.cli.command import Commands, add_client_command
from deskhook.cli.output import show
from deskhook.cli.stubs import admin_stub
from deskhook.cli.values import point_in_time
from deskhook.v1 import channel_admin_pb2 as admin_pb


async def _redeliver(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    request = admin_pb.RedeliverRequest(channel_id=options.channel_id)
    if options.event_id:
        request.event_id = options.event_id
    else:
        request.failed_since.FromDatetime(options.failed_since)
    response = await admin_stub(channel).Redeliver(request)
    show(options.json, response, f"deliveries scheduled again: {response.scheduled_deliveries}")
    return 0


def register(commands: Commands) -> None:
    redeliver = add_client_command(
        commands,
        "redeliver",
        _redeliver,
        "send an event again, or every delivery given up since a time",
        "Send an event to a channel again, or every delivery to it given up since a time. "
        "Redelivered requests keep their webhook-id.",
    )
    redeliver.add_argument("channel_id", metavar="CHANNEL_ID")
    scope = redeliver.add_mutually_exclusive_group(required=True)
    scope.add_argument("--event-id", metavar="ID", help="one event, whatever became of it")
    scope.add_argument(
        "--failed-since",
        type=point_in_time,
        metavar="TIME",
        help="every delivery given up since then: ISO 8601 time, or a duration ago (1h)",
    )
