"""The gRPC server itself: its options, its port bound (checked free first, and a failure worded
for a person), and the services registered on it with health and reflection."""

import os
import socket
from pathlib import Path
from typing import Final, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from deskhook.api.auth import TokenRules
from deskhook.api.channel_admin import ChannelAdminServicer
from deskhook.api.event_ingest import EventIngestServicer
from deskhook.api.health import HealthService
from deskhook.api.interceptors import AuthInterceptor, GuardInterceptor
from deskhook.api.rpc_bridge import HandlerTable
from deskhook.config import parse_host_port
from deskhook.core.access_tokens import AccessTokens
from deskhook.v1 import (
    channel_admin_pb2,
    channel_admin_pb2_grpc,
    event_ingest_pb2,
    event_ingest_pb2_grpc,
)

SERVICE_NAMES: Final = (
    channel_admin_pb2.DESCRIPTOR.services_by_name["ChannelAdmin"].full_name,
    event_ingest_pb2.DESCRIPTOR.services_by_name["EventIngest"].full_name,
)


class StartupError(Exception):
    """The server cannot start as configured (e.g. its port is taken)."""


def pending_call_options(max_streams: int) -> list[tuple[str, int]]:
    """gRPC's own backlog of calls that arrived but that the server has not taken up yet.

    The asyncio server takes up new calls one at a time on its event loop, so a burst of
    streams waits there; past 1000 waiting (gRPC's default) gRPC core starts refusing calls at
    random with CANCELLED (INTERNAL for a client in the middle of a write), before the
    application or its log ever sees them. Room for several times the stream limit lets every
    call of a burst through to deskhook, which refuses the ones past `max_ingest_streams` with
    a status that says to retry."""
    backlog = 4 * max(max_streams, 1000)
    return [
        ("grpc.server.max_pending_requests", backlog),
        ("grpc.server.max_pending_requests_hard_limit", 2 * backlog),
    ]


def interceptors(
    tokens: TokenRules, access_tokens: AccessTokens
) -> list[grpc.aio.ServerInterceptor]:
    """What every call runs through, over gRPC or the JSON API. The guard outermost: it logs the
    RPCs the token check refuses too."""
    return [GuardInterceptor(), AuthInterceptor(tokens, access_tokens)]


def new_server(chain: list[grpc.aio.ServerInterceptor], max_streams: int) -> grpc.aio.Server:
    return grpc.aio.server(
        interceptors=chain,
        options=[
            # so_reuseport off: a second server on a busy port must fail, not share it.
            ("grpc.so_reuseport", 0),
            *pending_call_options(max_streams),
        ],
    )


def register(
    server: grpc.aio.Server,
    admin: ChannelAdminServicer,
    ingest: EventIngestServicer,
    health: HealthService,
) -> None:
    register_services(server, admin, ingest)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (
            *SERVICE_NAMES,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )


def register_services(
    server: grpc.aio.Server | HandlerTable,
    admin: ChannelAdminServicer,
    ingest: EventIngestServicer,
) -> None:
    """deskhook's own services, on the gRPC server or in the JSON API's table."""
    # A HandlerTable takes what the generated functions give a server.
    target = cast(grpc.aio.Server, server)
    channel_admin_pb2_grpc.add_ChannelAdminServicer_to_server(admin, target)
    event_ingest_pb2_grpc.add_EventIngestServicer_to_server(ingest, target)


def bind(server: grpc.aio.Server, address: str, tls_cert: Path | None, tls_key: Path | None) -> int:
    """Bind `address`, with TLS when a certificate and key are given; the port bound."""
    # Tried here first: gRPC core reports a failed bind on stderr in its own words, and only
    # "Failed to bind" to us.
    _check_free(address, "--listen")
    try:
        if tls_cert is None or tls_key is None:
            return server.add_insecure_port(address)
        credentials = grpc.ssl_server_credentials([(tls_key.read_bytes(), tls_cert.read_bytes())])
        return server.add_secure_port(address, credentials)
    except RuntimeError as error:
        # grpc says only "Failed to bind"; the usual causes are worth naming.
        raise StartupError(
            f"cannot listen on {address}: the port is in use or the address is not local"
        ) from error


def cannot_listen(address: str, error: OSError, flag: str, what: str = "") -> StartupError:
    # asyncio words a failed bind at length around the system's reason; the reason says it.
    reason = os.strerror(error.errno) if error.errno and error.errno > 0 else error.strerror
    also = ", or to '' to turn the endpoint off" if flag != "--listen" else ""
    return StartupError(
        f"cannot listen on {address}{what} ({reason or error}); "
        f"set {flag} to a free local address{also}"
    )


def _check_free(address: str, flag: str) -> None:
    """StartupError unless every address `address` names can be bound now, as gRPC will."""
    host, port = parse_host_port(address)
    if port == 0:
        return
    try:
        for family, kind, protocol, _, where in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            with socket.socket(family, kind, protocol) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(where)
    except OSError as error:
        raise cannot_listen(address, error, flag) from error
