"""The ``offboard`` entry point: a bad setting is one line and exit 2, wherever it is read."""

from __future__ import annotations

import os
import sys

from config.settings import SettingsError

# An offboarding tool sends no usage data about its operators: Prefect's client telemetry and
# its first-run notice are off unless the operator opts in by setting these themselves.
TELEMETRY_OFF = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def main() -> None:
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)
    try:
        from cli.main import app

        app()
    except SettingsError as exc:
        print(f"offboard: error: {exc}", file=sys.stderr)
        sys.exit(2)
