"""`deskhook channels ...` run as a real command against a real server: every action, its
`--json` output parsed, and the ways it fails, each with a clear message and a non-zero exit."""

import grpc
import pytest

from deskhook.server import DeskhookServer
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_pb2, event_pb2
from tests.support.channels import add_channel
from tests.support.cli_runner import Cli
from tests.support.receiver import Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import ADMIN_TOKEN, AdminStub


def other_channel(receiver: Receiver) -> channel_pb2.Channel:
    return channel_pb2.Channel(
        name="other",
        url=receiver.url(),
        department_id=7,
        subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
    )


@pytest.fixture
def cli(server: DeskhookServer) -> Cli:
    return Cli(server.port, ADMIN_TOKEN)


async def test_create_get_update_delete(cli: Cli, admin: AdminStub, receiver: Receiver) -> None:
    created = await cli.run(
        "channels", "create", "--name", "crm", "--url", receiver.url(), "--department", "7",
        "--event", "ticket_create", "--event", "ticket_close", "--retries",
        "--retry-schedule", "5s,1m30s", "--ordering", "per_ticket", "--max-concurrency", "3",
        "--rate-limit", "20", "--disabled", "--request-id", "crm-1", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    (response,) = created.json_lines()
    assert response["signing_secret"].startswith("whsec_")
    channel = response["channel"]
    channel_id = channel["id"]
    assert channel["subscriptions"] == ["EVENT_TYPE_TICKET_CREATE", "EVENT_TYPE_TICKET_CLOSE"]
    assert (channel["department_id"], channel["retries_enabled"]) == ("7", True)
    assert channel["retry_schedule"] == ["5s", "90s"]
    assert (channel["ordering"], channel["max_concurrency"]) == ("ORDERING_PER_TICKET", 3)
    assert (channel["rate_limit_per_second"], channel["enabled"]) == (20, False)
    assert channel["connection_status"]["state"] == "CONNECTION_STATE_ESTABLISHED"
    # The request id went along: the server ties it to this channel.
    reused = await rpc_failure(
        admin.CreateChannel(
            admin_pb.CreateChannelRequest(channel=other_channel(receiver), request_id="crm-1")
        )
    )
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")

    shown = await cli.run("channels", "get", channel_id)
    assert shown.returncode == 0, shown.stderr
    assert "Connection established successfully! (HTTP 200)" in shown.stdout
    assert "ticket_create, ticket_close" in shown.stdout
    assert "on (5s, 1m30s)" in shown.stdout

    # Only the flags given change: the rest of the channel stays as it was.
    updated = await cli.run(
        "channels", "update", channel_id, "--name", "renamed", "--no-retries", "--enabled",
        "--retry-schedule", "", "--json",
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    (after,) = updated.json_lines()
    assert (after["channel"]["name"], after["channel"]["enabled"]) == ("renamed", True)
    # False and empty (the default schedule) are left out of proto3 JSON.
    assert "retries_enabled" not in after["channel"]
    assert "retry_schedule" not in after["channel"]
    unchanged = ("url", "subscriptions", "ordering", "max_concurrency", "rate_limit_per_second")
    assert {field: after["channel"][field] for field in unchanged} == {
        field: channel[field] for field in unchanged
    }

    deleted = await cli.run("channels", "delete", channel_id)
    assert (deleted.returncode, deleted.stdout) == (0, f"deleted channel {channel_id}\n")
    missing = await rpc_failure(admin.GetChannel(admin_pb.GetChannelRequest(id=channel_id)))
    assert missing.code == grpc.StatusCode.NOT_FOUND


async def test_list_with_filters_as_json_lines_and_as_a_table(
    cli: Cli, admin: AdminStub, receiver: Receiver
) -> None:
    support, _ = await add_channel(admin, receiver, name="support", enabled=False)
    sales, _ = await add_channel(admin, receiver, name="sales", department_id=8, enabled=False)
    billing, _ = await add_channel(admin, receiver, name="billing", department_id=8)

    # Each filter leaves out one channel the other lets through.
    listed = await cli.run("channels", "list", "--department", "8", "--disabled", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [channel["id"] for channel in listed.json_lines()] == [sales]

    table = await cli.run("channels", "list")
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()]
    assert [row[:3] for row in rows[2:]] == [
        [support, "support", "7"],
        [sales, "sales", "8"],
        [billing, "billing", "8"],
    ]


async def test_connection_test_of_a_channel_and_of_a_url(
    cli: Cli, admin: AdminStub, receiver: Receiver, closed_port: int
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    tested = await cli.run("channels", "test", channel_id, "--json")
    assert tested.returncode == 0, tested.stderr
    (response,) = tested.json_lines()
    assert response["connection_status"]["http_status"] == 200

    refused = await cli.run("channels", "test", "--url", f"https://localhost:{closed_port}/")
    assert refused.failure() == ""
    assert refused.stdout.startswith("failed: ")


async def test_rotate_secret(cli: Cli, admin: AdminStub, receiver: Receiver) -> None:
    channel_id, secret = await add_channel(admin, receiver)
    rotated = await cli.run("channels", "rotate-secret", channel_id, "--grace", "1h", "--json")
    assert rotated.returncode == 0, rotated.stderr
    (response,) = rotated.json_lines()
    assert response["signing_secret"].startswith("whsec_")
    assert response["signing_secret"] != secret
    assert "previous_secret_expire_time" in response


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["channels", "get", "ch_missing"],
            ["deskhook: NOT_FOUND: channel 'ch_missing' does not exist"
             " (reason CHANNEL_NOT_FOUND)"],
        ),
        (
            ["channels", "create", "--name", "x", "--url", "https://localhost/", "--department",
             "0", "--event", "ticket_create"],
            ["deskhook: INVALID_ARGUMENT: channel.department_id: is required and must be"
             " positive"],
        ),
    ],
)  # fmt: skip
async def test_server_errors_give_the_message_and_reason(
    cli: Cli, args: list[str], expected: list[str]
) -> None:
    result = await cli.run(*args)
    assert result.failure().splitlines() == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["channels", "create", "--name", "x", "--url", "https://localhost/", "--department",
             "7", "--event", "ticket_explode"],
            "argument --event: invalid choice: 'ticket_explode'",
        ),
        (["channels", "update", "ch_x"], "nothing to change: give at least one channel field"),
        (["channels", "test"], "one of the arguments id --url is required"),
    ],
)  # fmt: skip
async def test_bad_arguments_exit_2_with_argparse_message(
    cli: Cli, args: list[str], expected: str
) -> None:
    result = await cli.run(*args)
    assert expected in result.failure(returncode=2)


async def test_account_flags_create_in_an_account_and_filter_the_list(
    cli: Cli, admin: AdminStub, receiver: Receiver
) -> None:
    default, _ = await add_channel(admin, receiver, name="on-premise")
    created = await cli.run(
        "channels", "create", "--name", "acme crm", "--url", receiver.url(), "--department", "7",
        "--event", "ticket_create", "--account", "acme", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    (response,) = created.json_lines()
    acme = response["channel"]["id"]
    assert response["channel"]["account_id"] == "acme"

    only_acme = await cli.run("channels", "list", "--account", "acme", "--json")
    assert [channel["id"] for channel in only_acme.json_lines()] == [acme]
    only_default = await cli.run("channels", "list", "--account", "", "--json")
    assert [channel["id"] for channel in only_default.json_lines()] == [default]

    # The table shows an account column once a channel names an account, and the view a line.
    table = await cli.run("channels", "list")
    rows = [line.split() for line in table.stdout.splitlines()]
    assert [row[:2] for row in rows[2:]] == [["(default)", default], ["acme", acme]]
    shown = await cli.run("channels", "get", acme)
    assert "account" in shown.stdout
    assert "acme" in shown.stdout
    plain = await cli.run("channels", "get", default)
    assert "account" not in plain.stdout

    bad = await cli.run("channels", "list", "--account", "no/slash")
    assert bad.returncode == 2
    assert "--account" in bad.stderr
    assert "A-Z a-z 0-9" in bad.stderr
