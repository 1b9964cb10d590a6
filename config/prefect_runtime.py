"""Prefect settings the engine runs with, in one place: the CLI, the flows (and so deployments'
flow runs) and the benchmarks apply them.

Each cuts work nobody reads; none changes what a run records. Task runs, their states and
retries stay visible in the UI (they travel as events, which Prefect offers no switch for and
which we keep); warnings and errors still reach the run's logs.

Values are defaults: an operator's own environment wins.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

# Read by Prefect when it is imported (and by the temporary server it starts as a subprocess).
PREFECT_DEFAULTS = {
    # Each task run logs "Created task run" and "Finished in state Completed()" at INFO and
    # ships both to the API: two log records per task run, about 17 task runs per user, while
    # the states are in the UI already and each step writes the audit trail. Warnings (retries)
    # and errors still go to the API.
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "WARNING",
    # Steps are idempotent and re-list before they act (NO_CACHE): nothing reads stored results.
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}

# Only for the temporary server a run starts when no server is configured: at shutdown it is
# stopped mid-flush and prints tracebacks (task_run_recorder "Error flushing ... CancelledError",
# asyncio "Task was destroyed") that nobody can act on.
TEMPORARY_SERVER_QUIET = {
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_ROOT_LEVEL": "CRITICAL",
}


def apply_prefect_defaults() -> None:
    """Set the defaults above. Before Prefect is imported, the environment carries them; after,
    the loggers are set directly, so the order of imports does not matter."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    task_runs = os.environ["PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL"]
    logging.getLogger("prefect.task_runs").setLevel(task_runs.upper())


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update({key: os.environ.get(key, value) for key, value in values.items()})
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def start_temporary_server_quietly() -> str | None:
    """Without PREFECT_API_URL, start Prefect's temporary server now, with its own logging
    silenced (this process's is untouched); runs in this process then use it. Returns its URL,
    or None when a server is configured."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return None
    from prefect.server.api.server import SubprocessASGIServer

    # The subprocess copies the environment when it starts.
    with _environment(TEMPORARY_SERVER_QUIET):
        server = SubprocessASGIServer()
        server.start()
    return str(server.api_url)
