"""Account tokens on a real server, on SQLite and PostgreSQL (docs/design.md §10): an operator
mints them; they open ChannelAdmin as far as their scope allows and no further; expired,
revoked, altered and made-up ones are UNAUTHENTICATED; a restart keeps them valid; and bad
input names its field. (No token reaches a log line: test_secrets_in_logs.py.)"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.server import DeskhookServer, Tuning
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import (
    channel_admin_pb2_grpc,
    channel_pb2,
    event_ingest_pb2,
    event_ingest_pb2_grpc,
    event_pb2,
)
from tests.support.access_tokens import altered, signature_of
from tests.support.clock import FakeClock
from tests.support.receiver import Receiver
from tests.support.rpc_errors import RpcFailure, rpc_failure
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, AdminStub, running

T = TypeVar("T")


@asynccontextmanager
async def stub_with(server: DeskhookServer, token: str | None) -> AsyncIterator[AdminStub]:
    async with open_channel(f"127.0.0.1:{server.port}", token) as channel:
        yield channel_admin_pb2_grpc.ChannelAdminStub(channel)


async def mint(admin: AdminStub, account_id: str = "acme", **fields: Any) -> str:
    response = await admin.CreateAccessToken(
        pb.CreateAccessTokenRequest(account_id=account_id, **fields)
    )
    return response.token


async def called_with(
    server: DeskhookServer, token: str, call: Callable[[AdminStub], Awaitable[T]]
) -> T:
    async with stub_with(server, token) as stub:
        return await call(stub)


async def failure_with(
    server: DeskhookServer, token: str, call: Callable[[AdminStub], Awaitable[Any]]
) -> RpcFailure:
    async with stub_with(server, token) as stub:
        return await rpc_failure(call(stub))


def new_channel(receiver: Receiver) -> pb.CreateChannelRequest:
    return pb.CreateChannelRequest(
        channel=channel_pb2.Channel(
            name="crm",
            url=receiver.url(),
            department_id=7,
            subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
        )
    )


def list_channels(stub: AdminStub) -> Awaitable[pb.ListChannelsResponse]:
    return stub.ListChannels(pb.ListChannelsRequest())


def revoke(stub: AdminStub) -> Awaitable[pb.RevokeAccessTokensResponse]:
    return stub.RevokeAccessTokens(pb.RevokeAccessTokensRequest(account_id="acme"))


async def test_an_account_token_manages_channels_and_a_read_only_one_reads_them(
    server: DeskhookServer, admin: AdminStub, receiver: Receiver
) -> None:
    writer = await mint(admin)
    reader = await mint(admin, read_only=True)
    assert writer.startswith("dhat_")

    async with stub_with(server, writer) as stub:
        created = await stub.CreateChannel(new_channel(receiver))
        channel_id = created.channel.id
        got = await stub.GetChannel(pb.GetChannelRequest(id=channel_id))
        assert got.channel.name == "crm"
        assert channel_id in [channel.id for channel in (await list_channels(stub)).channels]

    async with stub_with(server, reader) as stub:
        assert (await stub.GetChannel(pb.GetChannelRequest(id=channel_id))).channel.name == "crm"
        assert channel_id in [channel.id for channel in (await list_channels(stub)).channels]
        await stub.ListDeliveryLog(pb.ListDeliveryLogRequest())
        watch = stub.WatchDeliveryLog(pb.WatchDeliveryLogRequest())
        # Headers arrive once the watch is registered: the call was let through.
        await watch.initial_metadata()
        watch.cancel()

        for call in (
            stub.CreateChannel(new_channel(receiver)),
            stub.DeleteChannel(pb.DeleteChannelRequest(id=channel_id)),
            stub.TestConnection(pb.TestConnectionRequest(channel_id=channel_id)),
            stub.RotateSigningSecret(pb.RotateSigningSecretRequest(id=channel_id)),
            stub.Redeliver(pb.RedeliverRequest(channel_id=channel_id, event_id="e")),
        ):
            failure = await rpc_failure(call)
            assert (failure.code, failure.reason) == (
                grpc.StatusCode.PERMISSION_DENIED,
                "PERMISSION_DENIED",
            )
            assert failure.message == "a read-only token may only get, list and watch"


@pytest.mark.parametrize("read_only", [False, True])
async def test_only_operators_mint_revoke_and_list_accounts(
    server: DeskhookServer, admin: AdminStub, read_only: bool
) -> None:
    token = await mint(admin, read_only=read_only)
    for call in (
        lambda stub: stub.CreateAccessToken(pb.CreateAccessTokenRequest(account_id="acme")),
        revoke,
        lambda stub: stub.ListAccounts(pb.ListAccountsRequest()),
    ):
        failure = await failure_with(server, token, call)
        assert failure.code == grpc.StatusCode.PERMISSION_DENIED
        assert failure.message.startswith("only operator tokens may call ")
    failure = await failure_with(server, INGEST_TOKEN, revoke)
    assert failure.code == grpc.StatusCode.PERMISSION_DENIED
    # Still valid: the refusals revoked nothing.
    await called_with(server, token, list_channels)


async def test_an_account_token_opens_no_other_service(
    server: DeskhookServer, admin: AdminStub
) -> None:
    token = await mint(admin)
    async with open_channel(f"127.0.0.1:{server.port}", token) as channel:
        failure = await rpc_failure(
            event_ingest_pb2_grpc.EventIngestStub(channel).PublishEvent(
                event_ingest_pb2.PublishEventRequest()
            )
        )
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED


async def test_an_expired_token_is_unauthenticated(
    server: DeskhookServer, admin: AdminStub, clock: FakeClock
) -> None:
    token = await mint(admin, ttl=Duration(seconds=1))
    await called_with(server, token, list_channels)
    clock.advance(timedelta(seconds=1))
    failure = await failure_with(server, token, list_channels)
    assert (failure.code, failure.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_EXPIRED")


async def test_a_revoked_token_is_unauthenticated_and_a_new_one_works(
    server: DeskhookServer, admin: AdminStub, clock: FakeClock
) -> None:
    token = await mint(admin)
    other = await mint(admin, "other")
    await called_with(server, token, list_channels)
    clock.advance(timedelta(microseconds=1))
    revoked = await revoke(admin)
    assert revoked.revoke_time.ToDatetime().replace(tzinfo=clock().tzinfo) == clock()
    failure = await failure_with(server, token, list_channels)
    assert (failure.code, failure.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
    await called_with(server, other, list_channels)
    await called_with(server, await mint(admin), list_channels)


async def test_altered_and_made_up_tokens_are_unauthenticated(
    server: DeskhookServer, admin: AdminStub
) -> None:
    token = await mint(admin, read_only=True)
    signature = signature_of(token)
    for forged in (
        altered(token, read_only=False),
        altered(token, account_id="other"),
        altered(token, {"alg": "none"}),
        altered(token, {"kid": "atk_unknown"}),
        token.rpartition(".")[0] + "." + token.rpartition(".")[2][::-1],
        token + "A",
        "dhat_" + "A" * 5000,
        "dhat_" + signature.hex(),
    ):
        failure = await failure_with(server, forged, list_channels)
        assert (failure.code, failure.reason) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "TOKEN_INVALID",
        ), forged


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"ttl": Duration(seconds=0)}, "ttl"),
        ({"ttl": Duration(seconds=0, nanos=999_999_999)}, "ttl"),
        ({"ttl": Duration(seconds=-60)}, "ttl"),
        ({"ttl": Duration(seconds=7 * 86400 + 1)}, "ttl"),
        ({"ttl": Duration(seconds=315_576_000_000)}, "ttl"),
        ({"ttl": Duration(seconds=60, nanos=-1)}, "ttl.nanos"),
        ({"account_id": "two words"}, "account_id"),
        ({"account_id": "a" * 65}, "account_id"),
        ({"account_id": "\x00"}, "account_id"),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field(
    admin: AdminStub, request_fields: dict[str, Any], field: str
) -> None:
    failure = await rpc_failure(
        admin.CreateAccessToken(pb.CreateAccessTokenRequest(**request_fields))
    )
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


async def test_a_revocation_names_a_valid_account(admin: AdminStub) -> None:
    failure = await rpc_failure(
        admin.RevokeAccessTokens(pb.RevokeAccessTokensRequest(account_id="bad id"))
    )
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["account_id"])


async def test_a_token_lives_an_hour_by_default_and_has_no_link_without_a_console(
    admin: AdminStub, clock: FakeClock
) -> None:
    response = await admin.CreateAccessToken(pb.CreateAccessTokenRequest(account_id="acme"))
    expire_time = response.expire_time.ToDatetime(clock().tzinfo)
    assert expire_time == (clock() + timedelta(hours=1)).replace(microsecond=0)
    assert response.console_url == ""
    week = await admin.CreateAccessToken(
        pb.CreateAccessTokenRequest(ttl=Duration(seconds=7 * 86400))
    )
    assert week.expire_time.ToDatetime(clock().tzinfo) > clock() + timedelta(days=6, hours=23)


async def test_a_console_link_carries_the_token_in_its_fragment(
    settings: Settings, tuning: Tuning
) -> None:
    with_console = settings.model_copy(update={"console_url": "https://desk.example.com/hooks/"})
    async with running(with_console, tuning) as server, stub_with(server, ADMIN_TOKEN) as admin:
        response = await admin.CreateAccessToken(pb.CreateAccessTokenRequest(account_id="acme"))
    assert response.console_url == f"https://desk.example.com/hooks/#token={response.token}"


async def test_a_token_survives_a_restart(settings: Settings, tuning: Tuning) -> None:
    async with running(settings, tuning) as first, stub_with(first, ADMIN_TOKEN) as admin:
        token = await mint(admin)
        read_only = await mint(admin, read_only=True)
    async with running(settings, tuning) as second:
        await called_with(second, token, list_channels)
        failure = await failure_with(
            second, read_only, lambda stub: stub.DeleteChannel(pb.DeleteChannelRequest(id="x"))
        )
        assert failure.code == grpc.StatusCode.PERMISSION_DENIED


async def test_an_open_admin_service_takes_every_call_as_an_operators(
    settings: Settings, tuning: Tuning
) -> None:
    open_settings = settings.model_copy(update={"admin_tokens": ()})
    async with running(open_settings, tuning) as server:
        async with stub_with(server, None) as anyone:
            token = await mint(anyone, read_only=True)
        # Its token is an operator's here too: it may even revoke.
        await called_with(server, token, revoke)
