"""`deskhook serve` as an operator runs it: it comes up SERVING, stops cleanly on SIGTERM, and a
bad setting stops start-up with a message naming it, never a traceback."""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deskhook.cli import build_parser
from deskhook.config import Settings
from deskhook.store.location import is_postgres_url, redacted
from deskhook.store.sqlite.store import SqliteStore
from tests.support.databases import PostgresServer
from tests.support.serve_process import deskhook_command, serve_process


async def test_serve_answers_health_and_stops_on_sigterm(database: str) -> None:
    async with serve_process(database) as served:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{served.port}") as channel:
            response = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest()
            )
        assert response.status == health_pb2.HealthCheckResponse.SERVING
        served.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(served.process.wait, 20) == 0
    logged = [json.loads(line) for line in served.log_lines]
    assert "stopped" in [line["event"] for line in logged]
    (listening,) = [line for line in logged if line["event"] == "listening"]
    assert listening["database"] == redacted(database)


def run_serve(
    args: list[str], env: dict[str, str] | None = None, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """`deskhook serve`, run to its end (30 s at most); `prefix` runs it under another
    command."""
    return subprocess.run(
        [*prefix, *deskhook_command("serve", *args)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


# Files the bad settings below name, in the test's temporary folder ({tmp}).
BAD_FILES = {
    "not-pem.txt": b"not a certificate",
    "syntax.toml": b"listen = \n",
    "latin1.toml": 'database = "d\xe9j\xe0.db"\n'.encode("latin-1"),
    "unknown-key.toml": b'listn = "127.0.0.1:1"\n',
    "wrong-type.toml": b'retention_days = "soon"\n',
    "not-a-database.db": b"hello, not SQLite",
}
PASSWORD = "hunter2"
# A bad setting, the flags and environment that give it, and what the one line must say.
BAD_SETTINGS = [
    (
        ["--listen", "no-port"],
        {},
        "invalid setting listen (from flag --listen): expected HOST:PORT",
    ),
    (["--listen", "127.0.0.1:http"], {}, "invalid setting listen (from flag --listen)"),
    (
        ["--listen", "127.0.0.1:70000"],
        {},
        "listen (from flag --listen): port 70000 is out of range",
    ),
    (["--listen", "::1:50051"], {}, "invalid setting listen (from flag --listen): write an IPv6"),
    (
        ["--metrics-listen", "nope"],
        {},
        "invalid setting metrics_listen (from flag --metrics-listen)",
    ),
    ([], {"DESKHOOK_METRICS_LISTEN": ":"}, "metrics_listen (from environment variable"),
    (
        [],
        {"DESKHOOK_ALLOW_NETWORKS": "not-a-network"},
        "invalid setting allow_networks (from environment variable DESKHOOK_ALLOW_NETWORKS)",
    ),
    (
        ["--allow-network", "10.0.0.1/8"],
        {},
        "allow_networks (from flag --allow-network): 10.0.0.1/8",
    ),
    (["--database-pool-size", "ten"], {}, "database_pool_size (from flag --database-pool-size)"),
    ([], {"DESKHOOK_DATABASE_POOL_SIZE": "-1"}, "database_pool_size (from environment variable"),
    (
        ["--retention-days", "soon"],
        {},
        "invalid setting retention_days (from flag --retention-days)",
    ),
    (["--retention-days", "0"], {}, "retention_days (from flag --retention-days): Input should be"),
    (
        ["--log-level", "loud"],
        {},
        "invalid setting log_level (from flag --log-level): Input should",
    ),
    ([], {"DESKHOOK_LOG_FORMAT": "xml"}, "invalid setting log_format (from environment variable"),
    ([], {"DESKHOOK_ALLOW_HTTP": "maybe"}, "invalid setting allow_http (from environment variable"),
    (["--admin-token", ""], {}, "invalid setting admin_tokens (from flag --admin-token): a token"),
    (
        [],
        {"DESKHOOK_INGEST_TOKENS": "caf\u00e9"},
        "invalid setting ingest_tokens (from environment",
    ),
    (["--ca-bundle", "{tmp}/missing.pem"], {}, "ca_bundle (from flag --ca-bundle): no such file"),
    (["--ca-bundle", "{tmp}/not-pem.txt"], {}, "ca_bundle (from flag --ca-bundle): cannot load"),
    (["--ca-bundle", "{tmp}"], {}, "invalid setting ca_bundle (from flag --ca-bundle)"),
    (["--tls-cert", "{tmp}/missing.pem"], {}, "invalid setting tls_cert (from flag --tls-cert)"),
    (["--tls-cert", "{tmp}/not-pem.txt"], {}, "tls_cert and tls_key must be given together"),
    (
        ["--tls-cert", "{tmp}/not-pem.txt", "--tls-key", "{tmp}/not-pem.txt"],
        {},
        "are not a PEM certificate and its unencrypted private key",
    ),
    (["--config", "{tmp}/missing.toml"], {}, "cannot read config file {tmp}/missing.toml"),
    ([], {"DESKHOOK_CONFIG": "{tmp}"}, "cannot read config file {tmp}: Is a directory"),
    (["--config", "{tmp}/syntax.toml"], {}, "config file {tmp}/syntax.toml is not valid TOML"),
    (["--config", "{tmp}/latin1.toml"], {}, "config file {tmp}/latin1.toml is not valid TOML"),
    (["--config", "{tmp}/unknown-key.toml"], {}, "'listn' in config file {tmp}/unknown-key.toml"),
    (
        ["--config", "{tmp}/wrong-type.toml"],
        {},
        "invalid setting retention_days (from 'retention_days' in config file",
    ),
    (["--database", ""], {}, "invalid setting database (from flag --database): must not be empty"),
    (
        ["--database", f"mysql://deskhook:{PASSWORD}@db/deskhook"],
        {},
        "database (from flag --database): expected a SQLite file or a postgresql:// URL",
    ),
    (
        ["--database", f"postgresql://deskhook:{PASSWORD}@127.0.0.1:notaport/deskhook"],
        {},
        "database (from flag --database): malformed PostgreSQL URL"
        " postgresql://deskhook:***@127.0.0.1:notaport/deskhook",
    ),
    (
        [],
        {"DESKHOOK_DATABASE": f"postgresql://deskhook:{PASSWORD}@[::1/deskhook"},
        "invalid setting database (from environment variable DESKHOOK_DATABASE): malformed",
    ),
    (
        ["--database", f"postgresql://deskhook:{PASSWORD}@127.0.0.1/deskhook?sslmode=sometimes"],
        {},
        "database (from flag --database): malformed PostgreSQL URL",
    ),
    (
        ["--database", "{tmp}/missing/deskhook.db"],
        {},
        "database (from flag --database): {tmp}/missing, the folder of {tmp}/missing/deskhook.db,"
        " does not exist",
    ),
    (
        ["--database", "{tmp}/not-pem.txt/deskhook.db"],
        {},
        "{tmp}/not-pem.txt, the folder of {tmp}/not-pem.txt/deskhook.db, is not a folder",
    ),
    (["--database", "{tmp}"], {}, "database (from flag --database): cannot open {tmp}: Is a"),
    (
        ["--database", "{tmp}/not-a-database.db"],
        {},
        "SQLite database {tmp}/not-a-database.db: file is not a database",
    ),
]


def bad_setting_id(case: tuple[list[str], dict[str, str], str]) -> str:
    args, env, _ = case
    return " ".join([*args, *(f"{name}={value}" for name, value in env.items())])[:60]


@pytest.mark.parametrize(
    ("args", "env", "expected"), BAD_SETTINGS, ids=[bad_setting_id(case) for case in BAD_SETTINGS]
)
def test_bad_setting_stops_start_up_with_one_line_naming_it(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    for name, content in BAD_FILES.items():
        (tmp_path / name).write_bytes(content)
    tmp = str(tmp_path)
    # The other settings are good, given by the environment so that the case's flags and
    # variables take precedence; tokens set and the metrics endpoint off, so that no warning
    # or log line shares the output.
    base = {
        "DESKHOOK_LISTEN": "127.0.0.1:0",
        "DESKHOOK_METRICS_LISTEN": "",
        "DESKHOOK_CONSOLE_LISTEN": "",
        "DESKHOOK_DATABASE": f"{tmp}/deskhook.db",
        "DESKHOOK_ADMIN_TOKENS": "admin",
        "DESKHOOK_INGEST_TOKENS": "ingest",
    }
    result = run_serve(
        [arg.format(tmp=tmp) for arg in args],
        base | {name: value.format(tmp=tmp) for name, value in env.items()},
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith("deskhook: "), result.stderr
    assert expected.format(tmp=tmp) in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


def test_a_missing_database_folder_is_not_created(tmp_path: Path) -> None:
    database = tmp_path / "nonexistent" / "dir" / "x.db"
    # No tokens either: the warning about an open server is not told before a failed start.
    result = run_serve(["--listen", "127.0.0.1:0", "--database", str(database)])
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert f"{database.parent}, the folder of {database}, does not exist" in line
    assert not (tmp_path / "nonexistent").exists()


def bound_by_file_modes() -> list[str]:
    """A command prefix under which file modes hold. Root passes them by CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH: setpriv drops both from the bounding set, and the command runs as
    root without them."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root writes to a read-only file, and setpriv is missing to stop it")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


async def test_a_database_it_cannot_write_stops_start_up(database: str) -> None:
    """Not SERVING and ready, only to fail every write."""
    if is_postgres_url(database):
        # As a standby would be.
        connection = await asyncpg.connect(database)
        try:
            await connection.execute(
                f'ALTER DATABASE "{urlsplit(database).path[1:]}"'
                " SET default_transaction_read_only = on"
            )
        finally:
            await connection.close()
        prefix, expected = [], "read-only transaction"
    else:
        # A read-only file in a folder deskhook may write: SQLite opens it read-only.
        store = await SqliteStore.open(database)
        await store.close()
        os.chmod(database, 0o444)
        prefix = bound_by_file_modes()
        expected = f"SQLite database {database}: attempt to write a readonly database"
    result = run_serve(
        [
            "--listen", "127.0.0.1:0",
            "--metrics-listen", "",
            "--admin-token", "admin", "--ingest-token", "ingest",
            "--database", database,
        ],
        prefix=prefix,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("deskhook: invalid setting database (from flag --database): ")
    assert expected in line
    assert redacted(database) in line


@pytest.mark.parametrize("wrong", ["password", "database"])
def test_a_wrong_postgres_password_or_database_stops_start_up(
    postgres_server: PostgresServer, wrong: str
) -> None:
    url = urlsplit(postgres_server.url)
    if wrong == "password":
        url = url._replace(netloc=f"{url.username}:{PASSWORD}@{url.hostname}:{url.port}")
    else:
        url = url._replace(path="/deskhook_no_such_database")
    database = urlunsplit(url)
    result = run_serve(
        [
            "--listen", "127.0.0.1:0",
            "--metrics-listen", "",
            "--admin-token", "admin", "--ingest-token", "ingest",
            "--database", database,
        ],
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "deskhook: invalid setting database (from flag --database): cannot connect to PostgreSQL"
        f" {redacted(database)}: "
    )
    assert PASSWORD not in line
    assert postgres_server.url.partition("@")[0].rpartition(":")[2] not in line


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
        ("--console-listen", "deskhook: cannot listen on {address} for the console (Address "
         "already in use); set --console-listen to a free local address, or to '' to turn the "
         "endpoint off\n"),
    ],
)  # fmt: skip
def test_a_taken_port_is_one_clear_line(
    taken_port: int, tmp_path: Path, flag: str, expected: str
) -> None:
    address = f"127.0.0.1:{taken_port}"
    ports = {
        "--listen": "127.0.0.1:0",
        "--metrics-listen": "127.0.0.1:0",
        "--console-listen": "127.0.0.1:0",
        flag: address,
    }
    # Tokens set: the warning about an open server is not what this test reads.
    tokens = ["--admin-token", "admin-token-1", "--ingest-token", "ingest-token-1"]
    args = [*tokens, "--database", str(tmp_path / "x.db")]
    result = run_serve([*args, *(part for pair in ports.items() for part in pair)])
    # A port in use may be free again soon: not a bad setting (2), a failed start (1).
    assert result.returncode == 1
    assert result.stderr == expected.format(address=address)


def test_unreachable_postgres_is_reported_without_traceback_or_password(closed_port: int) -> None:
    url = f"postgresql://deskhook:hunter2@127.0.0.1:{closed_port}/deskhook"
    result = run_serve(["--listen", "127.0.0.1:0", "--database", url])
    assert result.returncode == 1
    expected = f"cannot connect to PostgreSQL postgresql://deskhook:***@127.0.0.1:{closed_port}/"
    assert expected in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def serve_parser() -> argparse.ArgumentParser:
    (commands,) = [
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    parser: argparse.ArgumentParser = commands.choices["serve"]
    return parser


def test_serve_help_describes_the_command_and_every_setting() -> None:
    parser = serve_parser()
    assert parser.description is not None
    assert "DESKHOOK_*" in parser.description
    helps = {action.dest: action.help or "" for action in parser._actions}
    for field, info in {**Settings.model_fields, "config": None}.items():
        assert helps[field].endswith(f"env DESKHOOK_{field.upper()})"), helps[field]
        default = None if info is None else info.default
        # Nothing, none or off, as the help then says in words.
        if default not in (None, (), False, ""):
            assert f"(default {default}; env" in helps[field]
