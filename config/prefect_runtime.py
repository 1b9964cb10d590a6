"""Prefect settings the engine runs with, in one place: the CLI, the flows (and so deployments'
flow runs) and the benchmarks apply them.

Each cuts work nobody reads; none changes what a run records. Task runs, their states and
retries stay visible in the UI (they travel as events, which Prefect offers no switch for and
which we keep); warnings and errors still reach the run's logs.

Values are defaults: an operator's own environment wins.
"""

from __future__ import annotations

import logging
import os

# Read by Prefect when it is imported (and by the temporary server it starts as a subprocess).
PREFECT_DEFAULTS = {
    # Each task run logs "Created task run" and "Finished in state Completed()" at INFO and
    # ships both to the API: two log records per task run, about 17 task runs per user, while
    # the states are in the UI already and each step writes the audit trail. Warnings (retries)
    # and errors still go to the API.
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "WARNING",
    # Steps are idempotent and re-list before they act (NO_CACHE): nothing reads stored results.
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    # An offboarding tool sends no usage data about its operators; Prefect's client reads
    # DO_NOT_TRACK (the server flag alone leaves its first-run notice on).
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


def apply_prefect_defaults() -> None:
    """Set the defaults above. Before Prefect is imported, the environment carries them; after,
    the loggers are set directly, so the order of imports does not matter."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    task_runs = os.environ["PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL"]
    logging.getLogger("prefect.task_runs").setLevel(task_runs.upper())
