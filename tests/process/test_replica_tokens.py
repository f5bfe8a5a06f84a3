"""Account tokens across replicas sharing one PostgreSQL database, as real `deskhook serve`
processes (docs/design.md §11): a token minted through one replica opens the other, and once
revoked through one, the other refuses it within a second."""

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from deskhook.client import open_channel
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2, event_pb2
from tests.support.receiver import Receiver
from tests.support.rpc_errors import failure_of, rpc_failure
from tests.support.serve_process import ServeProcess, delivery_flags, serve_process
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN

# The contract: a revocation reaches every replica within a second.
REVOCATION_SECONDS = 1.0
PROBE_PAUSE = 0.02


def target(served: ServeProcess) -> str:
    return f"127.0.0.1:{served.port}"


async def get_channel(served: ServeProcess, token: str, channel_id: str) -> str:
    async with open_channel(target(served), token) as channel:
        stub = channel_admin_pb2_grpc.ChannelAdminStub(channel)
        response = await stub.GetChannel(pb.GetChannelRequest(id=channel_id))
        return response.channel.name


async def refused_after(served: ServeProcess, token: str, channel_id: str, since: float) -> float:
    """Call `served` with `token` until it refuses it as revoked: how long after `since` the
    first refused call was sent. Fails once calls sent a second after `since` still pass."""
    async with open_channel(target(served), token) as channel:
        stub = channel_admin_pb2_grpc.ChannelAdminStub(channel)
        while (sent := time.monotonic()) - since <= REVOCATION_SECONDS:
            try:
                await stub.GetChannel(pb.GetChannelRequest(id=channel_id))
            except grpc.aio.AioRpcError as error:
                failure = failure_of(error)
                assert (failure.code, failure.reason) == (
                    grpc.StatusCode.UNAUTHENTICATED,
                    "TOKEN_REVOKED",
                )
                return sent - since
            await asyncio.sleep(PROBE_PAUSE)
    pytest.fail(f"the other replica still took the revoked token {REVOCATION_SECONDS} s later")


async def test_a_token_minted_on_one_replica_is_revoked_on_the_other_within_a_second(
    tmp_path: Path, postgres_database: str, receiver: Receiver
) -> None:
    flags = delivery_flags(ADMIN_TOKEN, INGEST_TOKEN, receiver.write_ca(tmp_path / "ca.pem"))
    async with (
        serve_process(postgres_database, flags) as first,
        serve_process(postgres_database, flags) as second,
        open_channel(target(first), ADMIN_TOKEN) as operator_channel,
    ):
        operator = channel_admin_pb2_grpc.ChannelAdminStub(operator_channel)
        minted = await operator.CreateAccessToken(pb.CreateAccessTokenRequest(account_id="acme"))
        token = minted.token

        # Minted through the first, it writes through the second and reads through both.
        async with open_channel(target(second), token) as channel:
            created = await channel_admin_pb2_grpc.ChannelAdminStub(channel).CreateChannel(
                pb.CreateChannelRequest(
                    channel=channel_pb2.Channel(
                        name="crm",
                        url=receiver.url(),
                        department_id=7,
                        subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
                    )
                )
            )
        channel_id = created.channel.id
        for served in (first, second):
            assert await get_channel(served, token, channel_id) == "crm"

        await operator.RevokeAccessTokens(pb.RevokeAccessTokensRequest(account_id="acme"))
        revoked_at = time.monotonic()
        await refused_after(second, token, channel_id, revoked_at)
        # The replica that revoked refused at once.
        failure = await rpc_failure(get_channel(first, token, channel_id))
        assert failure.reason == "TOKEN_REVOKED"
