"""`deskhook tokens create | revoke` run as a real command against a real server (docs/design.md
§10): the token minted works for the other commands as far as its scope allows, the table and
`--json` say what was minted and revoked, and every failure is a message and an exit status."""

from datetime import timedelta

import pytest

from deskhook.config import Settings
from deskhook.server import DeskhookServer, Tuning
from tests.support.channels import add_channel
from tests.support.cli_runner import Cli
from tests.support.clock import FakeClock
from tests.support.receiver import Receiver
from tests.support.server import ADMIN_TOKEN, AdminStub, running


def fields(table: str) -> dict[str, str]:
    """A name and value table as printed, read back."""
    return {
        name: value.strip()
        for name, value in (line.split(maxsplit=1) for line in table.splitlines())
    }


@pytest.fixture
def cli(server: DeskhookServer) -> Cli:
    return Cli(server.port, ADMIN_TOKEN)


async def test_a_minted_token_lists_channels_and_a_revoked_one_no_longer(
    cli: Cli, server: DeskhookServer, clock: FakeClock
) -> None:
    created = await cli.run("tokens", "create", "--account", "acme", "--ttl", "2h", "--json")
    assert created.returncode == 0, created.stderr
    (response,) = created.json_lines()
    token = response["token"]
    assert token.startswith("dhat_")
    assert response["expire_time"].endswith("Z")
    # Proto3 JSON leaves the empty link out.
    assert "console_url" not in response

    as_account = Cli(server.port, token)
    listed = await as_account.run("channels", "list")
    assert (listed.returncode, listed.stdout) == (0, "no channels\n")

    clock.advance(timedelta(microseconds=1))
    revoked = await cli.run("tokens", "revoke", "--account", "acme")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith("revoked every token of 'acme' minted before ")
    refused = await as_account.run("channels", "list")
    assert refused.failure().splitlines() == [
        "deskhook: UNAUTHENTICATED: the access token was revoked (reason TOKEN_REVOKED)",
        "  pass a token with --token or DESKHOOK_TOKEN",
    ]


async def test_a_read_only_token_is_shown_as_such_and_may_not_write(
    cli: Cli, server: DeskhookServer
) -> None:
    created = await cli.run("tokens", "create", "--account", "", "--read-only")
    assert created.returncode == 0, created.stderr
    rows = fields(created.stdout)
    token, note = rows["token"].split(maxsplit=1)
    assert note == "(shown only now: store it)"
    assert rows["account"] == "the default account"
    assert rows["access"] == "read-only: get, list and watch"
    assert "console" not in rows

    refused = await Cli(server.port, token).run("channels", "delete", "ch_x")
    assert refused.failure().splitlines()[0] == (
        "deskhook: PERMISSION_DENIED: a read-only token may only get, list and watch"
    )
    # Nor may it mint: that takes an admin token.
    minted = await Cli(server.port, token).run("tokens", "create", "--account", "")
    assert minted.failure().splitlines()[0] == (
        "deskhook: PERMISSION_DENIED: only operator tokens may call CreateAccessToken"
    )


async def test_the_console_link_is_printed_when_the_server_has_one(
    settings: Settings, tuning: Tuning
) -> None:
    with_console = settings.model_copy(update={"console_url": "https://desk.example.com"})
    async with running(with_console, tuning) as server:
        created = await Cli(server.port, ADMIN_TOKEN).run("tokens", "create", "--account", "a")
    assert created.returncode == 0, created.stderr
    rows = fields(created.stdout)
    token = rows["token"].split()[0]
    assert rows["console"] == f"https://desk.example.com/#token={token}"


async def test_bad_input_is_refused_with_a_message(cli: Cli) -> None:
    # An account id is checked by the command itself, as every --account flag is: exit 2.
    invalid = await cli.run("tokens", "create", "--account", "two words")
    assert "argument --account: 'two words' must be empty or 1 to 64 of" in invalid.failure(2)
    too_long = await cli.run("tokens", "create", "--account", "a", "--ttl", "8d")
    assert too_long.failure().splitlines()[0] == (
        "deskhook: INVALID_ARGUMENT: ttl: must be from 1 second to 7 days"
    )
    # Caught by the command itself: exit status 2, as for every malformed argument.
    malformed = await cli.run("tokens", "create", "--account", "a", "--ttl", "soon")
    assert "is not a duration" in malformed.failure(2)
    missing = await cli.run("tokens", "revoke")
    assert "--account" in missing.failure(2)


async def test_accounts_are_listed_by_id_with_their_channel_counts(
    cli: Cli, admin: AdminStub, receiver: Receiver
) -> None:
    assert (await cli.run("accounts", "list")).stdout == "no accounts\n"
    for account_id in ("globex", "", "acme", "acme"):
        await add_channel(admin, receiver, account_id=account_id)
    listed = await cli.run("accounts", "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split() for line in listed.stdout.splitlines()[2:]] == [
        ["(default)", "1"],
        ["acme", "2"],
        ["globex", "1"],
    ]
    as_json = await cli.run("accounts", "list", "--json")
    assert as_json.json_lines() == [
        {"channel_count": 1},
        {"account_id": "acme", "channel_count": 2},
        {"account_id": "globex", "channel_count": 1},
    ]
