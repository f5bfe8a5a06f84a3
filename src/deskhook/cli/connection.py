"""Where the server is and how to reach it: the flags every client command shares, each with
an environment variable behind it."""

import argparse
import os

import grpc

from deskhook.cli.values import file_bytes
from deskhook.client import open_channel

DEFAULT_SERVER = "127.0.0.1:50051"
_TRUE = {"1", "true", "yes", "on"}


def add_connection_flags(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The flags naming the server and how to reach it. `defaults`: a flag not given takes its
    environment variable's value or the default; else it is left out of the namespace."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("server connection")
    add = group.add_argument
    add(
        "--server",
        metavar="HOST:PORT",
        default=default(os.environ.get("DESKHOOK_SERVER", DEFAULT_SERVER)),
        help=f"the deskhook gRPC address (env DESKHOOK_SERVER; default {DEFAULT_SERVER})",
    )
    add(
        "--token",
        default=default(os.environ.get("DESKHOOK_TOKEN")),
        help="bearer token: an admin or account token, or an ingest token for publish"
        " (env DESKHOOK_TOKEN)",
    )
    add(
        "--tls",
        action="store_true",
        default=default(os.environ.get("DESKHOOK_TLS", "").lower() in _TRUE),
        help="connect with TLS, trusting the system CAs (env DESKHOOK_TLS=1)",
    )
    add(
        "--tls-ca",
        metavar="FILE",
        type=file_bytes,
        default=default(os.environ.get("DESKHOOK_TLS_CA")),
        help="connect with TLS, trusting the CAs in this PEM file (env DESKHOOK_TLS_CA)",
    )


def connect(options: argparse.Namespace) -> grpc.aio.Channel:
    credentials = (
        grpc.ssl_channel_credentials(root_certificates=options.tls_ca)
        if options.tls or options.tls_ca is not None
        else None
    )
    return open_channel(options.server, options.token, credentials)
