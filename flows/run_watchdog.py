"""Marks a flow run Crashed as soon as the process executing it dies, however it died.

The CLI executes runs in its own process; a SIGKILL leaves nobody to report the run's end. This
small companion process holds one end of a pipe: when the pipe closes without ``done`` (the CLI
is gone), it sets the run Crashed on the server if it is still Pending or Running. It costs one
short-lived process instead of the ~1 s that flow-run heartbeats add to every run (their thread
is joined at the end); runs on workers rely on heartbeats and deploy/crash_detection.py instead.

It imports neither Prefect nor anything of the engine, so it starts in milliseconds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

DONE = b"done\n"
MESSAGE = (
    "the process executing this run died (killed or crashed): "
    "finish it with `offboard rerun FLOW_RUN_ID`"
)


def _request(api_url: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if auth := os.environ.get("PREFECT_API_AUTH_STRING"):
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    elif key := os.environ.get("PREFECT_API_KEY"):
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        f"{api_url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def mark_crashed_if_unfinished(api_url: str, flow_run_id: str) -> bool:
    run = _request(api_url, "GET", f"/flow_runs/{flow_run_id}")
    if (run.get("state") or {}).get("type") not in ("PENDING", "RUNNING"):
        return False
    state = {"type": "CRASHED", "name": "Crashed", "message": MESSAGE}
    _request(
        api_url, "POST", f"/flow_runs/{flow_run_id}/set_state", {"state": state, "force": True}
    )
    return True


@contextlib.contextmanager
def watching(api_url: str, flow_run_id: str, auth: dict[str, str]) -> Iterator[None]:
    """For the duration, the run is marked Crashed if this process dies. ``auth``: the
    PREFECT_API_AUTH_STRING / PREFECT_API_KEY in effect, for the watchdog's requests."""
    watchdog = subprocess.Popen(
        [sys.executable, "-S", "-m", "flows.run_watchdog", api_url, flow_run_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **auth, "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))},
        start_new_session=True,  # a Ctrl-C in the terminal is the CLI's, not the watchdog's
    )
    assert watchdog.stdin is not None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            watchdog.stdin.write(DONE)
            watchdog.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            watchdog.wait(timeout=5)


def main(argv: list[str]) -> int:
    api_url, flow_run_id = argv
    said = sys.stdin.buffer.read()  # returns when the CLI closes the pipe or dies
    if said == DONE:
        return 0
    try:
        mark_crashed_if_unfinished(api_url, flow_run_id)
    except OSError:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
