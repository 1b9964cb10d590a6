"""The ``offboard`` entry point: a bad setting is one line and exit 2, wherever it is read."""

from __future__ import annotations

import sys

from config.settings import SettingsError


def main() -> None:
    try:
        from cli.main import app

        app()
    except SettingsError as exc:
        print(f"offboard: error: {exc}", file=sys.stderr)
        sys.exit(2)
