"""How the client commands reach the server: address, token and TLS from flags or the
environment, and a clear message when that fails."""

from pathlib import Path

import pytest
import trustme

from deskhook.config import Settings
from deskhook.server import DeskhookServer
from tests.support.cli_runner import Cli
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, running


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (
            None,
            [
                "deskhook: UNAUTHENTICATED: a valid bearer token is required in the"
                " authorization metadata",
                "  pass a token with --token or DESKHOOK_TOKEN",
            ],
        ),
        (
            INGEST_TOKEN,
            [
                "deskhook: PERMISSION_DENIED: this token may not call this service",
                "  channels, log and redeliver need an admin or account token, tokens an admin"
                " token; publish needs an ingest token",
            ],
        ),
    ],
)
async def test_a_missing_or_wrong_token_is_explained(
    server: DeskhookServer, token: str | None, expected: list[str]
) -> None:
    result = await Cli(server.port, token).run("channels", "list")
    assert result.failure().splitlines() == expected


@pytest.mark.parametrize("args", [["channels", "list"], ["log", "--follow"]])
async def test_unreachable_server_is_one_line(closed_port: int, args: list[str]) -> None:
    result = await Cli(closed_port, ADMIN_TOKEN).run(*args)
    (line,) = result.failure().splitlines()
    assert line.startswith(
        f"deskhook: cannot reach the deskhook server at 127.0.0.1:{closed_port}:"
    )


@pytest.mark.parametrize("trust", ["--tls-ca", "DESKHOOK_TLS"])
async def test_tls_with_a_ca_file_or_the_default_roots(
    settings: Settings, tmp_path: Path, trust: str
) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    certificate.cert_chain_pems[0].write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    tls = settings.model_copy(update={"tls_cert": cert_file, "tls_key": key_file})

    async with running(tls) as server:
        cli = Cli(server.port, ADMIN_TOKEN)
        if trust == "--tls-ca":
            result = await cli.run("channels", "list", "--json", "--tls-ca", str(ca_file))
        else:
            # gRPC reads its default roots from here: the test CA stands in for the system's.
            cli.env |= {"DESKHOOK_TLS": "1", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(ca_file)}
            result = await cli.run("channels", "list", "--json")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--server", "{server}", "--token", "{token}", "--json", "channels", "list"],
                     id="before"),
        pytest.param(["channels", "list", "--server", "{server}", "--token", "{token}", "--json"],
                     id="after"),
        pytest.param(["--server", "{closed}", "--token", "wrong", "--json", "log",
                      "--server", "{server}", "--token", "{token}"], id="after-wins"),
    ],
)  # fmt: skip
async def test_client_flags_go_before_or_after_the_command(
    server: DeskhookServer, closed_port: int, args: list[str]
) -> None:
    # The environment names a closed port and no token: only the flags can reach the server.
    cli = Cli(closed_port, None)
    values = {"server": f"127.0.0.1:{server.port}", "closed": f"127.0.0.1:{closed_port}"}
    result = await cli.run(*(arg.format(token=ADMIN_TOKEN, **values) for arg in args))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


async def test_the_flag_after_the_command_wins(server: DeskhookServer, closed_port: int) -> None:
    cli = Cli(server.port, ADMIN_TOKEN)
    result = await cli.run(
        "--server", f"127.0.0.1:{server.port}", "channels", "list",
        "--server", f"127.0.0.1:{closed_port}",
    )  # fmt: skip
    assert f"cannot reach the deskhook server at 127.0.0.1:{closed_port}" in result.failure()


@pytest.mark.parametrize("command", ["serve", "demo"])
async def test_commands_that_are_no_clients_refuse_client_flags(command: str) -> None:
    result = await Cli(1, None).run("--token", "t", command)
    assert result.failure(returncode=2).endswith(
        f"deskhook: error: --token is for the client commands, not {command}\n"
    )
