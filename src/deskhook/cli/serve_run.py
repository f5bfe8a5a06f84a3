"""Running the server from `deskhook serve`'s flags, the environment and the config file."""

import argparse
import sys

from deskhook.cli.loop import run_async
from deskhook.config import ConfigError, Settings, load_settings, setting_problem
from deskhook.logs import configure_logging
from deskhook.server import StartupError, serve
from deskhook.store.base import StoreOpenError, UnusableDatabase

SETTING_DESTS = {*Settings.model_fields, "config"}


def serve_with_flags(options: argparse.Namespace) -> int:
    # Flags not given are absent (argument_default=SUPPRESS): environment and file fill in.
    flags = {name: value for name, value in vars(options).items() if name in SETTING_DESTS}
    try:
        settings = load_settings(flags)
    except ConfigError as error:
        print(f"deskhook: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        run_async(serve(settings))
    except UnusableDatabase as error:
        print(f"deskhook: {setting_problem('database', str(error), flags)}", file=sys.stderr)
        return 2
    except (StartupError, StoreOpenError) as error:
        print(f"deskhook: {error}", file=sys.stderr)
        return 1
    return 0
