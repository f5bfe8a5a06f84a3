"""`deskhook serve`: its flags, one per setting of deskhook.config."""

import argparse
from dataclasses import dataclass
from typing import Any

from deskhook.cli.command import Commands

DESCRIPTION = (
    "Run the deskhook server: the ChannelAdmin and EventIngest gRPC services, the delivery of "
    "webhooks, and the metrics and probes endpoint, over one database. Each setting comes from "
    "its flag, else its DESKHOOK_* environment variable, else the TOML file named by --config, "
    "else its default. A bad setting stops start-up with one line naming it (exit status 2)."
)


@dataclass(frozen=True)
class SettingFlag:
    """A flag of `deskhook serve` and what its setting does. The description is said once,
    here, for `--help` and for docs/reference/configuration.md (scripts/gen_reference.py);
    deskhook.config holds the setting's type, default and bounds. It is kept out of the
    settings' pydantic model because that module's imports (pydantic, the stores) would slow
    every client command's start by a third of a second."""

    flag: str
    description: str
    # None for a switch, which takes no value.
    metavar: str | None
    # The default as the help says it; empty when the description says what none means.
    default: str = ""
    repeatable: bool = False

    @property
    def setting(self) -> str:
        """The setting's name: its TOML key, and its variable behind DESKHOOK_."""
        name = self.flag.removeprefix("--").replace("-", "_")
        # Repeatable flags are singular (--admin-token A --admin-token B), their settings plural.
        return name if not self.repeatable or name.endswith("s") else f"{name}s"

    @property
    def help(self) -> str:
        notes = ["repeatable"] if self.repeatable else []
        notes += [f"default {self.default}"] if self.default else []
        notes.append(f"env DESKHOOK_{self.setting.upper()}")
        return f"{self.description} ({'; '.join(notes)})"


SETTING_FLAGS = (
    SettingFlag(
        "--config",
        "TOML file of settings, keyed by setting name: the environment variable's name in lower "
        "case without DESKHOOK_",
        "FILE",
    ),
    SettingFlag(
        "--listen",
        "the gRPC address: HOST:PORT or [v6]:PORT; port 0 picks a free one",
        "HOST:PORT",
        "127.0.0.1:50051",
    ),
    SettingFlag(
        "--database",
        "SQLite file, created (mode 0600) on first start in a folder that must exist, or a "
        "postgresql:// URL, whose password is never logged",
        "PATH|URL",
        "./deskhook.db",
    ),
    SettingFlag(
        "--database-pool-size",
        "connections each replica keeps to PostgreSQL for its queries, 1-1000 (SQLite ignores "
        "it); each replica also keeps up to six of its own: for claims, recordings, its claim "
        "owner lock and LISTEN",
        "N",
        "10",
    ),
    SettingFlag(
        "--metrics-listen",
        "HTTP address of the unauthenticated /metrics, /livez and /readyz endpoint; '' turns it "
        "off",
        "HOST:PORT",
        "127.0.0.1:9464",
    ),
    SettingFlag(
        "--console-listen",
        "HTTP address of the console and the JSON API; '' turns them off; like the gRPC "
        "address, loopback only while a service has no tokens",
        "HOST:PORT",
        "127.0.0.1:8080",
    ),
    SettingFlag(
        "--console-frame-ancestors",
        "origin (https://helpdesk.example.com) allowed to show the console in a frame; none: "
        "it cannot be framed",
        "ORIGIN",
        repeatable=True,
    ),
    SettingFlag(
        "--admin-token",
        "operator's bearer token for ChannelAdmin, reaching every account; none: open, on "
        "loopback only",
        "TOKEN",
        repeatable=True,
    ),
    SettingFlag(
        "--ingest-token",
        "bearer token for EventIngest; none: open, on loopback only",
        "TOKEN",
        repeatable=True,
    ),
    SettingFlag(
        "--allow-network",
        "network (CIDR) exempt from the URL policy",
        "CIDR",
        repeatable=True,
    ),
    SettingFlag("--allow-http", "allow plain-HTTP channel URLs, for development", None, "off"),
    SettingFlag(
        "--ca-bundle",
        "PEM CA bundle trusted for deliveries besides the system's CAs",
        "FILE",
    ),
    SettingFlag(
        "--tls-cert",
        "PEM certificate to serve the gRPC port over TLS; with --tls-key; none: plain",
        "FILE",
    ),
    SettingFlag(
        "--tls-key",
        "PEM private key of --tls-cert, unencrypted; with --tls-cert",
        "FILE",
    ),
    SettingFlag(
        "--max-ingest-streams",
        "PublishEvents streams open at once, 1-100000; one more is answered RESOURCE_EXHAUSTED, "
        "to retry",
        "N",
        "1000",
    ),
    SettingFlag(
        "--max-channels-per-account",
        "channels one account may have, 1-1000000; one more is answered RESOURCE_EXHAUSTED",
        "N",
        "1000",
    ),
    SettingFlag(
        "--retention-days",
        "days the webhook log and finished deliveries are kept, 1-3650",
        "DAYS",
        "30",
    ),
    SettingFlag(
        "--console-url",
        "the console's public base URL, put in the sign-in links CreateAccessToken answers "
        "with; '' for no links",
        "URL",
    ),
    SettingFlag(
        "--operational-url",
        "the HTTPS URL that receives operational webhooks (channel.disabled, channel.failing, "
        "channel.recovered, delivery.exhausted) about every account's channels; '' for none",
        "URL",
    ),
    SettingFlag(
        "--operational-secret",
        "the whsec_ secret that signs the operational webhooks, required with "
        "--operational-url; better set in the environment, out of the process list",
        "SECRET",
    ),
    SettingFlag(
        "--log-level",
        "the least severe level of log lines written: debug, info, warning or error",
        "LEVEL",
        "info",
    ),
    SettingFlag(
        "--log-format",
        "the format of log lines: json, console, or auto (console on a terminal, else json)",
        "FORMAT",
        "auto",
    ),
)


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    for setting_flag in SETTING_FLAGS:
        # Values are checked by deskhook.config (not argparse), so that a bad one is reported
        # in the same one line whichever source it came from.
        options: dict[str, Any] = {"metavar": setting_flag.metavar}
        if setting_flag.metavar is None:
            options = {"action": "store_const", "const": True}
        elif setting_flag.repeatable:
            options["action"] = "append"
        parser.add_argument(
            setting_flag.flag, dest=setting_flag.setting, help=setting_flag.help, **options
        )


def _serve(options: argparse.Namespace) -> int:
    # The server's imports (pydantic, aiosqlite, aiohttp, ...) take most of a second; only
    # `serve` needs them, so the client commands start without them.
    from deskhook.cli import serve_run  # noqa: PLC0415

    return serve_run.serve_with_flags(options)


def register(commands: Commands) -> None:
    serve_parser = commands.add_parser(
        "serve",
        help="run the deskhook server",
        description=DESCRIPTION,
        argument_default=argparse.SUPPRESS,
    )
    _add_setting_flags(serve_parser)
    serve_parser.set_defaults(handler=_serve)
