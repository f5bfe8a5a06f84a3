"""`deskhook tokens create | revoke`: account tokens, minted and revoked with an admin
(operator) token (docs/design.md §11)."""

import argparse

import grpc

from deskhook.cli.command import Commands, add_client_command
from deskhook.cli.output import fields_table, show, when
from deskhook.cli.stubs import admin_stub
from deskhook.cli.values import add_account_flag, duration
from deskhook.v1 import channel_admin_pb2 as admin_pb

ACCOUNT_HELP = "the account: 1-64 of A-Z a-z 0-9 . _ : -, or '' for the default account"


def _account(account_id: str) -> str:
    return repr(account_id) if account_id else "the default account"


async def _create(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    request = admin_pb.CreateAccessTokenRequest(
        account_id=options.account, read_only=options.read_only
    )
    if options.ttl is not None:
        request.ttl.FromTimedelta(options.ttl)
    response = await admin_stub(channel).CreateAccessToken(request)
    rows = [
        ("token", f"{response.token}  (shown only now: store it)"),
        ("account", _account(options.account)),
        ("access", "read-only: get, list and watch" if options.read_only else "read and write"),
        ("expires", when(response.expire_time)),
    ]
    if response.console_url:
        rows.append(("console", response.console_url))
    show(options.json, response, fields_table(rows))
    return 0


async def _revoke(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    response = await admin_stub(channel).RevokeAccessTokens(
        admin_pb.RevokeAccessTokensRequest(account_id=options.account)
    )
    show(
        options.json,
        response,
        f"revoked every token of {_account(options.account)} minted before "
        f"{when(response.revoke_time)}",
    )
    return 0


def register(commands: Commands) -> None:
    tokens = commands.add_parser(
        "tokens",
        help="mint and revoke account tokens (needs an admin token)",
        description="Mint and revoke the tokens of one account, for its admins' tooling or "
        "the console. Needs an admin token.",
    )
    actions = tokens.add_subparsers(dest="action", required=True)

    create = add_client_command(
        actions,
        "create",
        _create,
        "mint a token for an account; prints it, once, with its console link",
    )
    add_account_flag(create, ACCOUNT_HELP, required=True)
    create.add_argument(
        "--read-only", action="store_true", help="the token may only get, list and watch"
    )
    create.add_argument(
        "--ttl",
        type=duration,
        metavar="DURATION",
        help="how long the token is valid, 1s to 7d (default 1h)",
    )

    revoke = add_client_command(
        actions, "revoke", _revoke, "end every token of an account minted until now"
    )
    add_account_flag(revoke, ACCOUNT_HELP, required=True)
