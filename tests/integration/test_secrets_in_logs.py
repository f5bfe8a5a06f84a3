"""Signing secrets are returned to the admin and never written to a log line, nor is the
database's password (a PostgreSQL URL may carry one), nor an account token (docs/design.md
§10)."""

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp
import pytest
import structlog

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.logs import configure_logging
from deskhook.server import DeskhookServer
from deskhook.store.location import redacted
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2, event_pb2
from tests.support.access_tokens import altered
from tests.support.clock import FakeClock
from tests.support.receiver import Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import AdminStub


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    yield stream
    structlog.reset_defaults()


async def test_no_secret_in_any_log_line(
    captured_logs: io.StringIO,
    admin: AdminStub,
    receiver: Receiver,
    settings: Settings,
) -> None:
    created = await admin.CreateChannel(
        pb.CreateChannelRequest(
            channel=channel_pb2.Channel(
                name="secretive",
                url=receiver.url(),
                department_id=1,
                subscriptions=[event_pb2.EVENT_TYPE_TICKET_CLOSE],
            )
        )
    )
    rotated = await admin.RotateSigningSecret(pb.RotateSigningSecretRequest(id=created.channel.id))
    await admin.TestConnection(pb.TestConnectionRequest(channel_id=created.channel.id))
    await admin.TestConnection(pb.TestConnectionRequest(url=receiver.url()))

    lines = captured_logs.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    events = [record["event"] for record in records]
    assert [r["database"] for r in records if r["event"] == "listening"] == [
        redacted(settings.database)
    ]
    assert "channel created" in events
    assert "signing secret rotated" in events
    assert events.count("rpc") >= 4
    for secret in (created.signing_secret, rotated.signing_secret):
        key = secret.removeprefix("whsec_")
        assert not [line for line in lines if key in line]
    assert not [line for line in lines if "whsec_" in line]
    # The suite's PostgreSQL URL has one whenever scripts/test started the server (as in CI).
    if password := urlsplit(settings.database).password:
        assert not [line for line in lines if password in line]


async def test_no_token_in_any_log_line(
    captured_logs: io.StringIO, server: DeskhookServer, admin: AdminStub, clock: FakeClock
) -> None:
    response = await admin.CreateAccessToken(pb.CreateAccessTokenRequest(account_id="acme"))
    token = response.token
    revoke = pb.RevokeAccessTokensRequest(account_id="acme")
    async with open_channel(f"127.0.0.1:{server.port}", token) as channel:
        as_account = channel_admin_pb2_grpc.ChannelAdminStub(channel)
        await as_account.ListChannels(pb.ListChannelsRequest())
        await rpc_failure(as_account.RevokeAccessTokens(revoke))
        clock.advance(timedelta(microseconds=1))
        await admin.RevokeAccessTokens(revoke)
        await rpc_failure(as_account.ListChannels(pb.ListChannelsRequest()))
    async with open_channel(f"127.0.0.1:{server.port}", altered(token, read_only=True)) as forged:
        await rpc_failure(
            channel_admin_pb2_grpc.ChannelAdminStub(forged).ListChannels(pb.ListChannelsRequest())
        )

    lines = captured_logs.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    events = [record["event"] for record in records]
    assert "access token created" in events
    assert "access tokens revoked" in events
    assert events.count("rpc") >= 6
    # The token by none of its parts (the signature is what a forger lacks).
    for part in (token, token.removeprefix("dhat_"), *token.split(".")):
        assert not [line for line in lines if part in line], part
    assert not [line for line in lines if "dhat_" in line]


async def test_no_token_in_any_log_line_over_the_json_api(
    captured_logs: io.StringIO,
    server: DeskhookServer,
    admin: AdminStub,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await admin.CreateAccessToken(pb.CreateAccessTokenRequest(account_id="acme"))
    token = response.token
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.console_port}/") as http:

        async def call(method: str, bearer: str) -> int:
            async with http.post(
                f"deskhook.v1.ChannelAdmin/{method}",
                json={"accountId": "acme"},
                headers={"Authorization": f"Bearer {bearer}"},
            ) as answer:
                return answer.status

        assert await call("ListChannels", token) == 200
        assert await call("RevokeAccessTokens", token) == 403
        clock.advance(timedelta(microseconds=1))
        await admin.RevokeAccessTokens(pb.RevokeAccessTokensRequest(account_id="acme"))
        assert await call("ListChannels", token) == 401
        assert await call("ListChannels", altered(token, read_only=True)) == 401

    lines = captured_logs.getvalue().splitlines() + [r.getMessage() for r in caplog.records]
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert sum(line["event"] == "rpc" for line in logged) >= 4
    for part in (token, token.removeprefix("dhat_"), *token.split(".")):
        assert not [line for line in lines if part in line], part
    assert not [line for line in lines if "dhat_" in line]
