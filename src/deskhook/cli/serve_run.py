"""Running the server from `deskhook serve`'s flags, the environment and the config file."""

import argparse
import sys

from deskhook.cli.loop import run_async
from deskhook.config import ConfigError, Settings, SettingSources
from deskhook.logs import configure_logging
from deskhook.server import StartupError, serve
from deskhook.store.base import StoreOpenError, UnusableDatabase

SETTING_DESTS = {*Settings.model_fields, "config"}
# As for a usage error: nothing will start until the setting is changed.
EXIT_BAD_SETTING = 2
# Start-up failed for a reason that may pass: a port in use, a database out of reach.
EXIT_FAILED = 1


def serve_with_flags(options: argparse.Namespace) -> int:
    # Flags not given are absent (argument_default=SUPPRESS): environment and file fill in.
    flags = {name: value for name, value in vars(options).items() if name in SETTING_DESTS}
    try:
        sources = SettingSources.read(flags)
        settings = sources.settings()
    except ConfigError as error:
        print(f"deskhook: {error}", file=sys.stderr)
        return EXIT_BAD_SETTING
    configure_logging(settings.log_level, settings.log_format)
    try:
        run_async(serve(settings))
    except UnusableDatabase as error:
        # Found only on opening it, but the setting's fault all the same.
        print(f"deskhook: {sources.problem('database', str(error))}", file=sys.stderr)
        return EXIT_BAD_SETTING
    except (StartupError, StoreOpenError) as error:
        print(f"deskhook: {error}", file=sys.stderr)
        return EXIT_FAILED
    return 0
