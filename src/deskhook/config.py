"""Settings: command-line flags over `DESKHOOK_*` environment over an optional TOML file over
defaults that run out of the box on one machine."""

import os
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from deskhook.domain.signing import secret_problem
from deskhook.store.location import POSTGRES_SCHEMES, url_scheme
from deskhook.store.postgres.connection import POOL_SIZE

ENV_PREFIX = "DESKHOOK_"
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"


class ConfigError(Exception):
    """A setting is missing, malformed or inconsistent; the message names it and its source."""


def parse_host_port(value: str) -> tuple[str, int]:
    """Split `host:port` or `[v6-host]:port`; port 0 asks the system for a free one."""
    host, separator, port_text = value.rpartition(":")
    if not separator or not host or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} is out of range 0-65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, e.g. [::1]:{port}")
    return host, port


def _no_password(*_: object) -> bytes:
    """An encrypted key is refused rather than prompted for: OpenSSL would ask on the TTY."""
    return b""


def _split_commas(value: object) -> object:
    """The environment spells a list as `a,b`; TOML and repeated flags give a list already."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class Settings(BaseModel):
    """Everything the server reads at start-up: each setting's type, default and bounds. Field
    names are the TOML keys; the environment variable is the name in upper case behind
    `DESKHOOK_`. What each setting does is said once, in its flag's help
    (deskhook.cli.serve.SETTING_FLAGS), which docs/reference/configuration.md is generated from
    with these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: str = "127.0.0.1:50051"
    database: str = "./deskhook.db"
    database_pool_size: int = Field(default=POOL_SIZE, ge=1, le=1000)
    metrics_listen: str = "127.0.0.1:9464"
    console_listen: str = "127.0.0.1:8080"
    console_frame_ancestors: tuple[str, ...] = ()
    admin_tokens: tuple[str, ...] = ()
    ingest_tokens: tuple[str, ...] = ()
    allow_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    allow_http: bool = False
    ca_bundle: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_ingest_streams: int = Field(default=1000, ge=1, le=100_000)
    max_channels_per_account: int = Field(default=1000, ge=1, le=1_000_000)
    retention_days: int = Field(default=30, ge=1, le=3650)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    console_url: str = ""
    operational_url: str = ""
    operational_secret: str = Field(default="", repr=False)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @field_validator("metrics_listen", "console_listen")
    @classmethod
    def _host_port_or_off(cls, value: str) -> str:
        # Empty turns the endpoint off.
        if value:
            parse_host_port(value)
        return value

    @field_validator("database")
    @classmethod
    def _file_or_postgres_url(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        # Any other URL would silently become a SQLite file of that name.
        scheme = url_scheme(value)
        if scheme is not None and scheme not in POSTGRES_SCHEMES:
            raise ValueError(f"expected a SQLite file or a postgresql:// URL, not {scheme}://")
        return value

    @field_validator("admin_tokens", "ingest_tokens", mode="before")
    @classmethod
    def _tokens(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("admin_tokens", "ingest_tokens")
    @classmethod
    def _sendable_tokens(cls, tokens: tuple[str, ...]) -> tuple[str, ...]:
        # A client sends its token in gRPC metadata (`authorization: Bearer TOKEN`), which holds
        # printable ASCII only, and the server strips the spaces around it: any other token
        # could never match. The message leaves the token out, as it is a secret.
        for token in tokens:
            if not token or not all("!" <= character <= "~" for character in token):
                raise ValueError("a token must be printable ASCII characters without spaces")
        return tokens

    @field_validator("console_frame_ancestors", mode="before")
    @classmethod
    def _origin_list(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("console_frame_ancestors")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        # Each goes into a Content-Security-Policy header as it is: an origin and nothing else,
        # so that no value can end the directive or add another.
        for origin in origins:
            parts = urlsplit(origin)
            if (
                not all("!" <= character <= "~" for character in origin)
                or any(character in origin for character in ";,'\"")
                or parts.scheme not in ("https", "http")
                or not parts.netloc
                or parts.path
                or parts.query
                or parts.fragment
            ):
                raise ValueError(
                    f"{origin[:80]!r} is not an origin like https://helpdesk.example.com"
                )
        return origins

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        # One clear message ("host bits set") instead of one per member of the IPv4/IPv6 union.
        value = _split_commas(value)
        if isinstance(value, tuple | list):
            return tuple(ip_network(item) if isinstance(item, str) else item for item in value)
        return value

    @field_validator("console_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        # A link is this and `/#token=...`: a query or fragment of its own would swallow it.
        if not value:
            return value
        if not all("!" <= character <= "~" for character in value):
            raise ValueError("must be printable ASCII without spaces (an IDN host in punycode)")
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("expected an https:// (or http://) URL with a host")
        if "?" in value or "#" in value:
            raise ValueError("must have no query (?) or fragment (#): the token is put after it")
        return value.rstrip("/")

    @field_validator("operational_secret")
    @classmethod
    def _signing_secret(cls, value: str) -> str:
        # The message leaves the secret out.
        if value and (problem := secret_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("ca_bundle", "tls_cert", "tls_key")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _certificates(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                ssl.create_default_context(cafile=value)
            except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
                raise ValueError(f"cannot load {value} as PEM certificates: {error}") from None
        return value

    @model_validator(mode="after")
    def _operational_pair(self) -> "Settings":
        if self.operational_url and not self.operational_secret:
            raise ValueError(
                "operational_url needs operational_secret (DESKHOOK_OPERATIONAL_SECRET) to sign"
                " its webhooks"
            )
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> "Settings":
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        if self.tls_cert is not None:
            # gRPC would only find out when the port is bound, and say "Failed to bind".
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
                    self.tls_cert, self.tls_key, password=_no_password
                )
            except (OSError, ValueError) as error:
                raise ValueError(
                    f"tls_cert {self.tls_cert} and tls_key {self.tls_key} are not a PEM "
                    f"certificate and its unencrypted private key: {error}"
                ) from None
        return self


def _flag_name(field: str) -> str:
    # Repeatable flags are singular: --admin-token A --admin-token B.
    flag = field.removesuffix("s") if field.endswith(("_tokens", "_networks")) else field
    return "--" + flag.replace("_", "-")


def _read_config_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


@dataclass(frozen=True)
class SettingSources:
    """The values each source gives, highest precedence first: the flags given, the
    environment, and the TOML file named by `config` in either of them; kept to say where a
    setting found unusable at start-up came from."""

    flags: Mapping[str, object]
    environment: Mapping[str, str]
    file: Mapping[str, object]
    config_path: str | None

    @classmethod
    def read(
        cls, flags: Mapping[str, object], environ: Mapping[str, str] | None = None
    ) -> "SettingSources":
        environ = os.environ if environ is None else environ
        flags = dict(flags)
        config_path = flags.pop("config", None) or environ.get(CONFIG_ENV)
        return cls(
            flags,
            {
                name: environ[environment_variable(name)]
                for name in Settings.model_fields
                if environment_variable(name) in environ
            },
            _read_config_file(str(config_path)) if config_path else {},
            str(config_path) if config_path else None,
        )

    def settings(self) -> Settings:
        try:
            return Settings.model_validate({**self.file, **self.environment, **self.flags})
        except ValidationError as error:
            raise ConfigError(
                "\n".join(self.problem(*_field_and_message(each)) for each in error.errors())
            ) from None

    def problem(self, field: str, message: str) -> str:
        """One line saying which setting is wrong, where its value came from, and why."""
        if field not in Settings.model_fields:
            where = f"'{field}' in config file {self.config_path}" if field else "settings"
            return f"{where}: {message}"
        if field in self.flags:
            source = f"flag {_flag_name(field)}"
        elif field in self.environment:
            source = f"environment variable {environment_variable(field)}"
        elif field in self.file:
            source = f"'{field}' in config file {self.config_path}"
        else:
            source = "its default"
        return f"invalid setting {field} (from {source}): {message}"


def environment_variable(field: str) -> str:
    """The environment variable a setting is read from."""
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(
    flags: Mapping[str, object], environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge the sources, highest precedence first: `flags` (only those given), the
    environment, the TOML file named by `config` in either of them, then the defaults."""
    return SettingSources.read(flags, environ).settings()


def _field_and_message(problem: ErrorDetails) -> tuple[str, str]:
    field = str(problem["loc"][0]) if problem["loc"] else ""
    if problem["type"] == "extra_forbidden":
        return field, "no such setting"
    return field, problem["msg"].removeprefix("Value error, ")
