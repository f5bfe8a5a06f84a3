"""Every ChannelAdmin call on a channel of account `acme`, by every kind of caller, on SQLite
and PostgreSQL, over gRPC and over the JSON API: the exact status, as one table (docs/design.md
§10, §11 and §12). Another account's
channel does not exist for it (NOT_FOUND, never PERMISSION_DENIED); a read-only token gets, lists
and watches; a token that is expired, revoked or altered opens nothing."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import aiohttp
import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from deskhook.client import open_channel
from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.domain.sign_in import SignInPolicy
from deskhook.server import DeskhookServer, Tuning
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.access_tokens import altered
from tests.support.channels import add_channel
from tests.support.clock import FakeClock
from tests.support.events import make_event
from tests.support.json_api import JsonAdminStub
from tests.support.receiver import Receiver
from tests.support.server import ADMIN_TOKEN, AdminStub, IngestStub

OK = grpc.StatusCode.OK
MISSING = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED
UNKNOWN = grpc.StatusCode.UNAUTHENTICATED

Call = Callable[[AdminStub, str], Awaitable[Any]]


async def watch(stub: AdminStub, channel_id: str) -> None:
    """Watches the channel's log until the server takes the watch (its headers come), then
    stops; a refused watch ends at once with its error."""
    call = stub.WatchDeliveryLog(pb.WatchDeliveryLogRequest(channel_id=channel_id))
    await call.initial_metadata()
    if call.done():
        await call.read()
    call.cancel()


def since_an_hour_ago() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    stamp.FromSeconds(stamp.seconds - 3600)
    return stamp


# Delete comes last: the calls before it find the channel still there.
CALLS: dict[str, Call] = {
    "get": lambda stub, id_: stub.GetChannel(pb.GetChannelRequest(id=id_)),
    "list log": lambda stub, id_: stub.ListDeliveryLog(pb.ListDeliveryLogRequest(channel_id=id_)),
    "watch log": watch,
    "update": lambda stub, id_: stub.UpdateChannel(
        pb.UpdateChannelRequest(channel=channel_pb2.Channel(id=id_, name="renamed"))
    ),
    "test": lambda stub, id_: stub.TestConnection(pb.TestConnectionRequest(channel_id=id_)),
    "rotate": lambda stub, id_: stub.RotateSigningSecret(pb.RotateSigningSecretRequest(id=id_)),
    "redeliver one": lambda stub, id_: stub.Redeliver(
        pb.RedeliverRequest(channel_id=id_, event_id="evt-1")
    ),
    "redeliver since": lambda stub, id_: stub.Redeliver(
        pb.RedeliverRequest(channel_id=id_, failed_since=since_an_hour_ago())
    ),
    "delete": lambda stub, id_: stub.DeleteChannel(pb.DeleteChannelRequest(id=id_)),
}

# caller: the status of each call, in the order of CALLS. ListChannels is in the next table:
# it succeeds for every valid token, and what it holds is the point.
EXPECTED: dict[str, tuple[grpc.StatusCode, ...]] = {
    #           get      log      watch    update   test     rotate   one      since    delete
    "operator": (OK,     OK,      OK,      OK,      OK,      OK,      OK,      OK,      OK),
    "own":      (OK,     OK,      OK,      OK,      OK,      OK,      OK,      OK,      OK),
    "other":    (MISSING, MISSING, MISSING, MISSING, MISSING, MISSING, MISSING, MISSING, MISSING),
    "read-only": (OK,    OK,      OK,      DENIED,  DENIED,  DENIED,  DENIED,  DENIED,  DENIED),
    "expired":  (UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN),
    "revoked":  (UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN),
    "tampered": (UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN),
}  # fmt: skip

# ListChannels by each caller: its status, and whether acme's channel is in it.
LISTS_THE_CHANNEL: dict[str, tuple[grpc.StatusCode, bool]] = {
    "operator": (OK, True),
    "own": (OK, True),
    "other": (OK, False),
    "read-only": (OK, True),
    "expired": (UNKNOWN, False),
    "revoked": (UNKNOWN, False),
    "tampered": (UNKNOWN, False),
}


async def mint(admin: AdminStub, account_id: str, **fields: Any) -> str:
    response = await admin.CreateAccessToken(
        pb.CreateAccessTokenRequest(account_id=account_id, **fields)
    )
    return response.token


async def tokens(admin: AdminStub, clock: FakeClock) -> dict[str, str]:
    """A token of every kind of caller; `expired` and `revoked` were valid for `acme` once."""
    expiring = await mint(admin, "acme", ttl=Duration(seconds=1))
    revoked = await mint(admin, "acme")
    clock.advance(timedelta(microseconds=1))
    await admin.RevokeAccessTokens(pb.RevokeAccessTokensRequest(account_id="acme"))
    clock.advance(timedelta(seconds=2))
    other = await mint(admin, "globex")
    return {
        "operator": ADMIN_TOKEN,
        "own": await mint(admin, "acme"),
        "other": other,
        "read-only": await mint(admin, "acme", read_only=True),
        "expired": expiring,
        "revoked": revoked,
        # Another account's token claiming to be acme's: its signature no longer holds.
        "tampered": altered(other, account_id="acme"),
    }


async def status_of(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return OK


async def listing(stub: AdminStub) -> tuple[grpc.StatusCode, list[str]]:
    try:
        response = await stub.ListChannels(pb.ListChannelsRequest())
    except grpc.aio.AioRpcError as error:
        return error.code(), []
    return OK, [channel.id for channel in response.channels]


@pytest.fixture
def tuning(tuning: Tuning) -> Tuning:
    """The matrix offers one address more refused tokens than a person signing in would."""
    return replace(tuning, sign_ins=SignInPolicy(burst=1000))


@asynccontextmanager
async def calling_as(
    transport: str, server: DeskhookServer, token: str, stir: Callable[[], Awaitable[None]]
) -> AsyncIterator[AdminStub]:
    """A ChannelAdmin stub with `token`, over gRPC or the JSON API (which answers alike)."""
    if transport == "grpc":
        async with open_channel(f"127.0.0.1:{server.port}", token) as channel:
            yield channel_admin_pb2_grpc.ChannelAdminStub(channel)
        return
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.console_port}") as session:
        yield cast(AdminStub, JsonAdminStub(session, token, stir))


@pytest.mark.parametrize("transport", ["grpc", "json"])
@pytest.mark.parametrize("caller", list(EXPECTED))
async def test_every_call_by_every_caller_has_its_status(
    caller: str,
    transport: str,
    server: DeskhookServer,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    token = (await tokens(admin, clock))[caller]
    channel_id, _ = await add_channel(admin, receiver, account_id="acme")
    event = make_event("evt-1")
    event.account_id = "acme"
    await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=event))
    await scheduler.drain()

    async def attempt_again() -> None:
        """An attempt of the channel, which a watch that was let in is told of."""
        await admin.Redeliver(pb.RedeliverRequest(channel_id=channel_id, event_id="evt-1"))
        await scheduler.drain()

    async with calling_as(transport, server, token, attempt_again) as stub:
        listed = await listing(stub)
        statuses = [await status_of(call(stub, channel_id)) for call in CALLS.values()]
    assert (listed[0], channel_id in listed[1]) == LISTS_THE_CHANNEL[caller]
    assert dict(zip(CALLS, statuses, strict=True)) == dict(
        zip(CALLS, EXPECTED[caller], strict=True)
    )
