"""The production topology without Docker: Prefect server (SQLite or PostgreSQL), the process
work pool, the deployments from deploy/prefect.yaml, a worker and the HR webhook receiver.

    python -m deploy.local_stack up [--port 4200] [--webhook-port 8787] [--database-url URL]
                                    [--crash-after 90]

Runs send heartbeats; a run silent for ``--crash-after`` seconds is marked Crashed
(deploy/crash_detection.py).

The end-to-end tests start the same stack through :class:`LocalStack`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import get_settings
from deploy.crash_detection import DEFAULT_WITHIN_SECONDS, HEARTBEAT_SECONDS

PROJECT = Path(__file__).resolve().parents[1]
POOL = "offboard"
BIN = Path(sys.executable).parent


@dataclass
class LocalStack:
    home: Path
    api_port: int = 4200
    database_url: str | None = None
    # A run without a heartbeat for this long is marked Crashed (deploy/crash_detection.py).
    crash_after_seconds: int = DEFAULT_WITHIN_SECONDS
    # Passed to every process (AWS endpoint and credentials, OFFBOARD_* settings, ...).
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            **self.extra_env,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(self.api_port),
            # Workers poll every few seconds instead of ten, so runs start promptly.
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "OFFBOARD_PROJECT_DIR": str(PROJECT),
            # Runs prove they are alive; the crash automation reacts when they stop.
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
        }
        if self.database_url:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = self.database_url
        return env

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        self.home.mkdir(parents=True, exist_ok=True)
        log = (self.home / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [str(BIN / args[0]), *args[1:]],
            cwd=PROJECT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def prefect(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "prefect"), *args],
            cwd=PROJECT,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
            timeout=180,
        )

    def start_server(self, timeout: float = 120) -> None:
        server = self._spawn(
            "server",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.api_port),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"Prefect server exited; see {self.home / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"Prefect server not healthy after {timeout:g} s")

    def deploy(self) -> None:
        self.prefect("work-pool", "create", POOL, "--type", "process", "--overwrite")
        self.prefect(
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            str(PROJECT / "deploy" / "prefect.yaml"),
        )
        self.python("-m", "deploy.crash_detection", "--within", str(self.crash_after_seconds))

    def python(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=PROJECT,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
            timeout=180,
        )

    def start_worker(self) -> None:
        self._spawn("worker", "prefect", "worker", "start", "--pool", POOL, "--type", "process")

    def start_webhook(self, port: int) -> None:
        self._spawn("webhook", "offboard", "webhook", "--host", "127.0.0.1", "--port", str(port))

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # The worker may ignore the first SIGTERM for a long time.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()

    def up(self, webhook_port: int | None) -> None:
        self.start_server()
        self.deploy()
        self.start_worker()
        if webhook_port:
            self.start_webhook(webhook_port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local_stack", description=__doc__)
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--port", type=int, default=4200)
    parser.add_argument("--webhook-port", type=int, default=8787)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--crash-after", type=int, default=DEFAULT_WITHIN_SECONDS)
    args = parser.parse_args(argv)
    home = args.home or get_settings().home / "prefect-server"
    stack = LocalStack(
        home=home,
        api_port=args.port,
        database_url=args.database_url,
        crash_after_seconds=args.crash_after,
    )
    try:
        stack.up(args.webhook_port if os.environ.get("OFFBOARD_WEBHOOK_SECRET") else None)
        print(f"Prefect API {stack.api_url}; UI http://127.0.0.1:{args.port}")
        print(f"export PREFECT_API_URL={stack.api_url}")
        if not os.environ.get("OFFBOARD_WEBHOOK_SECRET"):
            print("webhook receiver not started: set OFFBOARD_WEBHOOK_SECRET")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
