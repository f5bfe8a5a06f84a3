"""How the client commands reach the server: address, token and TLS from flags or the
environment, and a clear message when that fails."""

from pathlib import Path

import pytest
import trustme

from deskhook.config import Settings
from deskhook.server import DeskhookServer
from tests.cli_runner import Cli
from tests.conftest import ADMIN_TOKEN, INGEST_TOKEN, running


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
                "  channels, log and redeliver need an admin token; publish needs an ingest token",
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
