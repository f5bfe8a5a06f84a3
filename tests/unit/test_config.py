"""Settings come from flags over environment over the TOML file over defaults, and a bad value
is reported with the setting's name and where it came from."""

from ipaddress import ip_network
from pathlib import Path

import pytest

from deskhook.config import ConfigError, Settings, load_settings, parse_host_port
from tests.support.server import OPERATIONAL_SECRET


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "deskhook.toml"
    path.write_text(text)
    return str(path)


def test_defaults_run_out_of_the_box() -> None:
    settings = load_settings({}, environ={})
    assert settings == Settings()
    assert settings.listen == "127.0.0.1:50051"
    assert settings.database == "./deskhook.db"
    assert settings.metrics_listen == "127.0.0.1:9464"
    assert settings.admin_tokens == ()
    assert settings.allow_http is False


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        'listen = "127.0.0.1:1001"\ndatabase = "file.db"\nmetrics_listen = "127.0.0.1:3001"\n',
    )
    environ = {
        "DESKHOOK_CONFIG": config,
        "DESKHOOK_LISTEN": "127.0.0.1:1002",
        "DESKHOOK_DATABASE": "env.db",
    }
    settings = load_settings({"listen": "127.0.0.1:1003"}, environ=environ)
    assert settings.listen == "127.0.0.1:1003"  # flag
    assert settings.database == "env.db"  # environment over file
    assert settings.metrics_listen == "127.0.0.1:3001"  # file over default
    assert settings.log_level == "info"  # default


def test_config_flag_beats_config_environment(tmp_path: Path) -> None:
    from_flag = write_config(tmp_path, 'database = "flag-file.db"\n')
    settings = load_settings({"config": from_flag}, environ={"DESKHOOK_CONFIG": "/nonexistent"})
    assert settings.database == "flag-file.db"


def test_lists_from_environment_are_comma_separated() -> None:
    settings = load_settings(
        {},
        environ={
            "DESKHOOK_ADMIN_TOKENS": "first, second",
            "DESKHOOK_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
            "DESKHOOK_ALLOW_HTTP": "true",
        },
    )
    assert settings.admin_tokens == ("first", "second")
    assert settings.allow_networks == (ip_network("127.0.0.0/8"), ip_network("::1/128"))
    assert settings.allow_http is True


def test_repeated_flags_and_toml_arrays(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'ingest_tokens = ["a", "b"]\n')
    settings = load_settings({"config": config, "admin_tokens": ["x", "y"]}, environ={})
    assert settings.admin_tokens == ("x", "y")
    assert settings.ingest_tokens == ("a", "b")


@pytest.mark.parametrize(
    ("flags", "environ", "expected"),
    [
        ({"listen": "localhost"}, {}, "invalid setting listen (from flag --listen)"),
        (
            {},
            {"DESKHOOK_METRICS_LISTEN": "127.0.0.1:70000"},
            "invalid setting metrics_listen (from environment variable DESKHOOK_METRICS_LISTEN)"
            ": port 70000 is out of range",
        ),
        (
            {"allow_networks": ["10.0.0.1/8"]},
            {},
            "invalid setting allow_networks (from flag --allow-network): 10.0.0.1/8 has host bits",
        ),
        (
            {},
            {"DESKHOOK_ALLOW_HTTP": "maybe"},
            "invalid setting allow_http (from environment variable DESKHOOK_ALLOW_HTTP)",
        ),
        (
            {"ca_bundle": "/nonexistent/ca.pem"},
            {},
            "invalid setting ca_bundle (from flag --ca-bundle): no such file",
        ),
        ({"listen": "::1:50051"}, {}, "write an IPv6 address in brackets"),
        (
            {},
            {"DESKHOOK_DATABASE_POOL_SIZE": "0"},
            "invalid setting database_pool_size (from environment variable"
            " DESKHOOK_DATABASE_POOL_SIZE): Input should be greater than or equal to 1",
        ),
        *(
            (
                {"console_frame_ancestors": [origin]},
                {},
                "invalid setting console_frame_ancestors (from flag --console-frame-ancestors):"
                f" {origin!r} is not an origin",
            )
            for origin in (
                "https://a.example; script-src *",
                "https://a.example/path",
                "'self'",
                "javascript:alert(1)",
                "https://a.example 'unsafe-inline'",
            )
        ),
        (
            {},
            {"DESKHOOK_DATABASE": "mysql://deskhook:hunter2@db/deskhook"},
            "invalid setting database (from environment variable DESKHOOK_DATABASE): expected"
            " a SQLite file or a postgresql:// URL, not mysql://",
        ),
    ],
)
def test_bad_value_names_the_setting_and_its_source(
    flags: dict[str, object], environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(flags, environ=environ)
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    "database",
    ["postgresql://deskhook:hunter2@db.internal:5432/deskhook", "postgres://db/deskhook", "x.db"],
)
def test_database_is_a_file_or_a_postgres_url(database: str) -> None:
    assert load_settings({"database": database}, environ={}).database == database


def test_database_pool_size_from_environment() -> None:
    environ = {"DESKHOOK_DATABASE_POOL_SIZE": "3"}
    assert load_settings({}, environ=environ).database_pool_size == 3


def test_bad_value_in_file_names_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'log_level = "loud"\n')
    with pytest.raises(
        ConfigError, match=r"invalid setting log_level \(from 'log_level' in config"
    ):
        load_settings({"config": config}, environ={})


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'listn = "127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match=r"'listn' in config file .*: no such setting"):
        load_settings({"config": config}, environ={})


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings({"config": str(tmp_path / "missing.toml")}, environ={})
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings({"config": write_config(tmp_path, "listen = \n")}, environ={})


def test_tls_needs_certificate_and_key(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(ConfigError, match="tls_cert and tls_key must be given together"):
        load_settings({"tls_cert": str(cert)}, environ={})


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:50051", ("::1", 50051)),
        ("localhost:9464", ("localhost", 9464)),
    ],
)
def test_parse_host_port(address: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(address) == expected


def test_a_refused_database_url_is_not_repeated_with_its_password() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"database": "mysql://deskhook:hunter2@db/deskhook"}, environ={})
    assert "hunter2" not in str(raised.value)


def test_an_operational_url_needs_a_secret_from_the_environment() -> None:
    url = {"operational_url": "https://ops.example/hooks"}
    with pytest.raises(ConfigError, match="operational_url needs operational_secret"):
        load_settings(url, environ={})
    settings = load_settings(url, environ={"DESKHOOK_OPERATIONAL_SECRET": OPERATIONAL_SECRET})
    assert settings.operational_secret == OPERATIONAL_SECRET
    # Kept out of anything that prints the settings.
    assert OPERATIONAL_SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("hunter2-not-a-secret", "must start with whsec_"),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_c2hvcnQ=", "24 to 64 bytes of key, not 5"),
        ("whsec_" + "QUFB" * 30, "not 90"),
    ],
)
def test_a_bad_operational_secret_is_refused_without_being_echoed(
    secret: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({}, environ={"DESKHOOK_OPERATIONAL_SECRET": secret})
    message = str(raised.value)
    assert "environment variable DESKHOOK_OPERATIONAL_SECRET" in message
    assert problem in message
    assert secret not in message
