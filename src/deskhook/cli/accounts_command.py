"""`deskhook accounts list`: the accounts with channels, by id, with how many each has (needs an
admin token)."""

import argparse

import grpc

from deskhook.cli.command import Commands, add_client_command
from deskhook.cli.output import show_all, table
from deskhook.cli.paging import collect
from deskhook.cli.stubs import admin_stub
from deskhook.v1 import channel_admin_pb2 as admin_pb


async def _list(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    stub = admin_stub(channel)

    async def page(token: str, size: int) -> tuple[list[admin_pb.Account], str]:
        response = await stub.ListAccounts(
            admin_pb.ListAccountsRequest(page_size=size, page_token=token)
        )
        return list(response.accounts), response.next_page_token

    accounts = await collect(page)
    view = table("account", "channels")
    for account in accounts:
        view.add_row(account.account_id or "(default)", str(account.channel_count))
    show_all(options.json, accounts, view, none="no accounts")
    return 0


def register(commands: Commands) -> None:
    accounts = commands.add_parser(
        "accounts",
        help="list the accounts with channels (needs an admin token)",
        description="The accounts that have channels, by id. Needs an admin token.",
    )
    actions = accounts.add_subparsers(dest="action", required=True)
    add_client_command(actions, "list", _list, "list the accounts with channels, by id")
