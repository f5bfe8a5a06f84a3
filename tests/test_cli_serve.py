"""`deskhook serve` as an operator runs it: it comes up SERVING, stops cleanly on SIGTERM, and a
bad setting stops start-up with a message naming it, never a traceback."""

import asyncio
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deskhook.store.location import redacted
from tests.serve_process import deskhook_command, serve_process


async def test_serve_answers_health_and_stops_on_sigterm(database: str) -> None:
    async with serve_process(database) as served:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{served.port}") as channel:
            response = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest()
            )
        assert response.status == health_pb2.HealthCheckResponse.SERVING
        served.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(served.process.wait, 20) == 0
    assert '"event": "stopped"' in "".join(served.log_lines)
    (listening,) = [line for line in served.log_lines if '"event": "listening"' in line]
    assert json.loads(listening)["database"] == redacted(database)


def run_serve(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        deskhook_command("serve", *args),
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--listen", "no-port"], {}, "invalid setting listen (from flag --listen)"),
        (
            [],
            {"DESKHOOK_ALLOW_NETWORKS": "not-a-network"},
            "invalid setting allow_networks (from environment variable DESKHOOK_ALLOW_NETWORKS)",
        ),
        (["--config", "/nonexistent/deskhook.toml"], {}, "cannot read config file"),
    ],
)
def test_bad_setting_stops_start_up_with_a_clear_message(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    result = run_serve(args, env)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another process listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port: int = other.getsockname()[1]
        yield port


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("--listen", "deskhook: cannot listen on {address} (Address already in use); set "
         "--listen to a free local address\n"),
        ("--metrics-listen", "deskhook: cannot listen on {address} for metrics (Address already "
         "in use); set --metrics-listen to a free local address, or to '' to turn the endpoint "
         "off\n"),
    ],
)  # fmt: skip
def test_a_taken_port_is_one_clear_line(
    taken_port: int, tmp_path: Path, flag: str, expected: str
) -> None:
    address = f"127.0.0.1:{taken_port}"
    ports = {"--listen": "127.0.0.1:0", "--metrics-listen": "127.0.0.1:0", flag: address}
    # Tokens set: the warning about an open server is not what this test reads.
    tokens = ["--admin-token", "admin-token-1", "--ingest-token", "ingest-token-1"]
    args = [*tokens, "--database", str(tmp_path / "x.db")]
    result = run_serve([*args, *(part for pair in ports.items() for part in pair)])
    assert result.returncode == 2
    assert result.stderr == expected.format(address=address)


def test_unusable_database_is_reported_without_traceback(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    result = run_serve(["--listen", "127.0.0.1:0", "--database", str(not_a_directory / "x.db")])
    assert result.returncode == 1
    assert f"cannot open SQLite database {not_a_directory / 'x.db'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_postgres_is_reported_without_traceback_or_password(closed_port: int) -> None:
    url = f"postgresql://deskhook:hunter2@127.0.0.1:{closed_port}/deskhook"
    result = run_serve(["--listen", "127.0.0.1:0", "--database", url])
    assert result.returncode == 1
    expected = f"cannot connect to PostgreSQL postgresql://deskhook:***@127.0.0.1:{closed_port}/"
    assert expected in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_ca_bundle_is_reported_without_traceback(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    result = run_serve(
        [
            "--listen",
            "127.0.0.1:0",
            "--database",
            str(tmp_path / "x.db"),
            "--ca-bundle",
            str(not_pem),
        ]
    )
    assert result.returncode == 2
    assert f"cannot load CA bundle {not_pem}" in result.stderr
    assert "Traceback" not in result.stderr
