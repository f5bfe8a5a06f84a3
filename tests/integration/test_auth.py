"""Bearer tokens: admin tokens for ChannelAdmin, ingest tokens for EventIngest; health and
reflection open; no tokens means loopback only."""

from ipaddress import ip_network
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.server import DeskhookServer, StartupError
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_admin_pb2_grpc, event_ingest_pb2, event_ingest_pb2_grpc
from tests.support.rpc_errors import rpc_failure
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, running


async def list_channels(port: int, token: str | None) -> None:
    async with open_channel(f"127.0.0.1:{port}", token) as channel:
        await channel_admin_pb2_grpc.ChannelAdminStub(channel).ListChannels(
            admin_pb.ListChannelsRequest()
        )


async def publish(port: int, token: str | None) -> None:
    async with open_channel(f"127.0.0.1:{port}", token) as channel:
        await event_ingest_pb2_grpc.EventIngestStub(channel).PublishEvent(
            event_ingest_pb2.PublishEventRequest()
        )


async def test_admin_token_opens_channel_admin(server: DeskhookServer) -> None:
    await list_channels(server.port, ADMIN_TOKEN)


@pytest.mark.parametrize(
    ("token", "code", "reason"),
    [
        (None, grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        ("wrong-token", grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
        (INGEST_TOKEN, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
    ],
)
async def test_channel_admin_refuses_other_tokens(
    server: DeskhookServer, token: str | None, code: grpc.StatusCode, reason: str
) -> None:
    failure = await rpc_failure(list_channels(server.port, token))
    assert (failure.code, failure.reason) == (code, reason)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, grpc.StatusCode.UNAUTHENTICATED),
        ("wrong-token", grpc.StatusCode.UNAUTHENTICATED),
        (ADMIN_TOKEN, grpc.StatusCode.PERMISSION_DENIED),
    ],
)
async def test_event_ingest_refuses_other_tokens(
    server: DeskhookServer, token: str | None, code: grpc.StatusCode
) -> None:
    failure = await rpc_failure(publish(server.port, token))
    assert failure.code == code


async def test_ingest_token_passes_auth(server: DeskhookServer) -> None:
    # Past auth, the call reaches the service (which rejects the empty event, or is not built).
    failure = await rpc_failure(publish(server.port, INGEST_TOKEN))
    assert failure.code not in {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    }


async def test_malformed_authorization_is_unauthenticated(server: DeskhookServer) -> None:
    async with open_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel_admin_pb2_grpc.ChannelAdminStub(channel).ListChannels(
            admin_pb.ListChannelsRequest(), metadata=(("authorization", ADMIN_TOKEN),)
        )
        failure = await rpc_failure(call)
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED


async def test_several_admin_tokens_all_work(tmp_path: Path) -> None:
    settings = Settings(
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        console_listen="",
        database=str(tmp_path / "deskhook.db"),
        admin_tokens=("old-token", "new-token"),
        ingest_tokens=(INGEST_TOKEN,),
    )
    async with running(settings) as server:
        await list_channels(server.port, "old-token")
        await list_channels(server.port, "new-token")


async def test_health_stays_open(channel: grpc.aio.Channel) -> None:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_without_tokens_only_loopback_is_allowed(tmp_path: Path) -> None:
    exposed = DeskhookServer(Settings(listen="0.0.0.0:0", database=str(tmp_path / "a.db")))
    with pytest.raises(StartupError, match=r"no tokens are configured for deskhook.v1.Channel"):
        await exposed.start()

    local = Settings(
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        console_listen="",
        database=str(tmp_path / "b.db"),
        allow_networks=(ip_network("127.0.0.0/8"),),
    )
    async with running(local) as server:
        await list_channels(server.port, None)


async def test_without_tokens_the_console_port_is_loopback_only_too(tmp_path: Path) -> None:
    exposed = DeskhookServer(
        Settings(
            listen="127.0.0.1:0",
            console_listen="0.0.0.0:0",
            metrics_listen="",
            database=str(tmp_path / "a.db"),
        )
    )
    with pytest.raises(StartupError, match=r"listens on loopback only, not 0\.0\.0\.0:0"):
        await exposed.start()


async def test_tokens_for_one_service_still_leave_the_other_loopback_only(
    tmp_path: Path,
) -> None:
    half = DeskhookServer(
        Settings(
            listen="0.0.0.0:0",
            database=str(tmp_path / "c.db"),
            admin_tokens=(ADMIN_TOKEN,),
        )
    )
    with pytest.raises(StartupError, match=r"deskhook\.v1\.EventIngest"):
        await half.start()
