"""The ``offboard`` command line."""

import os

# Set before Prefect is imported, which reads its settings once.
# Without PREFECT_API_URL, Prefect starts a temporary API server; its first start on a fresh
# machine can take longer than Prefect's default 20 s.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Keep stderr for errors and the report: progress logs only when asked for.
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")

from config.prefect_runtime import apply_prefect_defaults

apply_prefect_defaults()
