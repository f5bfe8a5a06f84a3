"""`deskhook channels create | get | list | update | delete | test | rotate-secret`."""

import argparse

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from deskhook.cli.channel_flags import add_channel_flags, channel_from_flags
from deskhook.cli.channel_view import channel_view, channels_table, connection
from deskhook.cli.command import EXIT_FAILED, Commands, UsageError, add_client_command
from deskhook.cli.output import fields_table, show, show_all, when
from deskhook.cli.paging import collect
from deskhook.cli.stubs import admin_stub
from deskhook.cli.values import add_account_flag, duration
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_pb2


async def _create(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    spec, _ = channel_from_flags(options)
    spec.account_id = options.account or ""
    response = await admin_stub(channel).CreateChannel(
        admin_pb.CreateChannelRequest(channel=spec, request_id=options.request_id)
    )
    show(options.json, response, channel_view(response.channel, response.signing_secret))
    return 0


async def _get(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    response = await admin_stub(channel).GetChannel(admin_pb.GetChannelRequest(id=options.id))
    show(options.json, response, channel_view(response.channel))
    return 0


async def _list(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    stub = admin_stub(channel)

    async def page(token: str, size: int) -> tuple[list[channel_pb2.Channel], str]:
        response = await stub.ListChannels(
            admin_pb.ListChannelsRequest(
                page_size=size,
                page_token=token,
                department_id=options.department_id,
                enabled=options.enabled,
                account_id=options.account,
            )
        )
        return list(response.channels), response.next_page_token

    channels = await collect(page)
    show_all(options.json, channels, channels_table(channels), none="no channels")
    return 0


async def _update(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    spec, paths = channel_from_flags(options)
    if not paths:
        raise UsageError("nothing to change: give at least one channel field flag")
    spec.id = options.id
    response = await admin_stub(channel).UpdateChannel(
        admin_pb.UpdateChannelRequest(channel=spec, update_mask=FieldMask(paths=paths))
    )
    show(options.json, response, channel_view(response.channel))
    return 0


async def _delete(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    response = await admin_stub(channel).DeleteChannel(admin_pb.DeleteChannelRequest(id=options.id))
    show(options.json, response, f"deleted channel {options.id}")
    return 0


async def _test(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    request = (
        admin_pb.TestConnectionRequest(channel_id=options.id)
        if options.id
        else admin_pb.TestConnectionRequest(url=options.url)
    )
    response = await admin_stub(channel).TestConnection(request)
    status = response.connection_status
    show(options.json, response, connection(status))
    return 0 if status.state == channel_pb2.CONNECTION_STATE_ESTABLISHED else EXIT_FAILED


async def _rotate_secret(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    request = admin_pb.RotateSigningSecretRequest(id=options.id)
    if options.grace is not None:
        request.grace_period.FromTimedelta(options.grace)
    response = await admin_stub(channel).RotateSigningSecret(request)
    view = fields_table(
        [
            ("signing secret", f"{response.signing_secret}  (shown only now: store it)"),
            ("previous secret signs until", when(response.previous_secret_expire_time)),
        ]
    )
    show(options.json, response, view)
    return 0


def register(commands: Commands) -> None:
    channels = commands.add_parser(
        "channels", help="manage outgoing channels", description="Manage outgoing channels."
    )
    actions = channels.add_subparsers(dest="action", required=True)

    create = add_client_command(
        actions, "create", _create, "create a channel; prints its signing secret, once"
    )
    add_channel_flags(create, required=True)
    add_account_flag(create, "the account the channel belongs to (default: the default account)")
    create.add_argument(
        "--request-id",
        default="",
        metavar="ID",
        help="an id of your choice: the same create sent again returns the first channel",
    )

    add_client_command(actions, "get", _get, "show one channel").add_argument("id")

    listing = add_client_command(actions, "list", _list, "list channels, oldest first")
    listing.add_argument("--department", dest="department_id", type=int, metavar="ID")
    add_account_flag(listing, "channels of this account only ('' for the default account)")
    enabled = listing.add_mutually_exclusive_group()
    enabled.add_argument("--enabled", action="store_const", const=True, help="enabled only")
    enabled.add_argument(
        "--disabled", dest="enabled", action="store_const", const=False, help="disabled only"
    )

    update = add_client_command(
        actions, "update", _update, "change the fields given as flags, and only those"
    )
    update.add_argument("id")
    add_channel_flags(update, required=False)

    add_client_command(actions, "delete", _delete, "delete a channel").add_argument("id")

    test = add_client_command(
        actions,
        "test",
        _test,
        "test the connection of a channel, or of a URL; exits 1 when the test fails",
    )
    target = test.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", help="a saved channel (the result is stored on it)")
    target.add_argument("--url", help="a URL not saved yet")

    rotate = add_client_command(
        actions, "rotate-secret", _rotate_secret, "give a channel a new signing secret"
    )
    rotate.add_argument("id")
    rotate.add_argument(
        "--grace",
        type=duration,
        metavar="DURATION",
        help="how long the previous secret keeps signing (default 24h; 0s ends it now)",
    )
