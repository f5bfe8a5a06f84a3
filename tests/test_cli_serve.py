"""`deskhook serve` as an operator runs it: it comes up SERVING, stops cleanly on SIGTERM, and a
bad setting stops start-up with a message naming it, never a traceback."""

import asyncio
import json
import os
import signal
import subprocess
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


async def test_port_in_use_is_reported_without_traceback(tmp_path: Path) -> None:
    async with serve_process(str(tmp_path / "first.db")) as served:
        result = run_serve(
            ["--listen", f"127.0.0.1:{served.port}", "--database", str(tmp_path / "second.db")]
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{served.port}" in result.stderr
    assert "Traceback" not in result.stderr


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
    assert result.returncode == 1
    assert f"cannot load CA bundle {not_pem}" in result.stderr
    assert "Traceback" not in result.stderr
