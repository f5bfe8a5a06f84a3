"""The server answers health checks and reflection over a real gRPC channel, with or without
TLS on its port."""

from pathlib import Path

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from deskhook.config import Settings
from deskhook.server import DeskhookServer
from tests.support.server import running

SERVING = health_pb2.HealthCheckResponse.SERVING


async def health_of(channel: grpc.aio.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    return int(response.status)


@pytest.mark.parametrize("service", ["", "deskhook.v1.ChannelAdmin", "deskhook.v1.EventIngest"])
async def test_health_is_serving_once_started(channel: grpc.aio.Channel, service: str) -> None:
    assert await health_of(channel, service) == SERVING


async def test_reflection_lists_both_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for response in stub.ServerReflectionInfo(iter([request])):
        names = {service.name for service in response.list_services_response.service}
        break
    assert {"deskhook.v1.ChannelAdmin", "deskhook.v1.EventIngest"} <= names


async def test_reflection_describes_the_contract(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="deskhook.v1.ChannelAdmin"
    )
    async for response in stub.ServerReflectionInfo(iter([request])):
        files = response.file_descriptor_response.file_descriptor_proto
        break
    assert files, "reflection returned no descriptor for deskhook.v1.ChannelAdmin"


async def test_stop_reports_not_serving_to_watchers(server: DeskhookServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        first = await watch.read()
        assert isinstance(first, health_pb2.HealthCheckResponse)
        assert first.status == SERVING
        await server.stop(grace=1)
        second = await watch.read()
        assert isinstance(second, health_pb2.HealthCheckResponse)
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_tls_on_the_grpc_port(tmp_path: Path) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    certificate.cert_chain_pems[0].write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    settings = Settings(
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        console_listen="",
        database=str(tmp_path / "deskhook.db"),
        tls_cert=cert_file,
        tls_key=key_file,
    )
    credentials = grpc.ssl_channel_credentials(authority.cert_pem.bytes())
    async with (
        running(settings) as server,
        grpc.aio.secure_channel(
            f"127.0.0.1:{server.port}",
            credentials,
            options=[("grpc.ssl_target_name_override", "localhost")],
        ) as channel,
    ):
        assert await health_of(channel) == SERVING
