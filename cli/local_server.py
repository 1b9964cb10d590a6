"""The Prefect server the CLI reports its runs to.

Three cases, in this order: the server named by ``PREFECT_API_URL``; the persistent local server
``offboard server start`` keeps running under ``OFFBOARD_HOME/prefect-server``; otherwise a
temporary server for this one command. The temporary server is ours rather than Prefect's own
(``SubprocessASGIServer``) for two reasons: its output goes to a log file, so users never see its
shutdown tracebacks, and it dies with the CLI (``PR_SET_PDEATHSIG``), so a killed CLI leaves no
server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from config.settings import get_settings

DEFAULT_PORT = 4200
START_TIMEOUT_SECONDS = 120.0
PR_SET_PDEATHSIG = 1
FALLBACK_NOTICE = (
    "offboard: no Prefect server configured (PREFECT_API_URL): starting a temporary one for "
    "this command (10-20 s); `offboard server start` keeps one running"
)


def server_home() -> Path:
    return get_settings().home / "prefect-server"


def api_healthy(api_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def wait_healthy(api_url: str, alive: Callable[[], bool], timeout: float, log: Path) -> None:
    """Poll ``/api/health`` until the server answers; the server start returns before that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the Prefect server exited during start-up; see {log}")
        if api_healthy(api_url):
            return
        time.sleep(0.3)
    raise RuntimeError(f"the Prefect server did not answer within {timeout:g} s; see {log}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    return env


# --- the persistent local server (offboard server start|stop|status) --------------------------


@dataclass(frozen=True)
class LocalServer:
    home: Path
    port: int
    pid: int | None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def process_alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    @property
    def up(self) -> bool:
        return self.process_alive and api_healthy(self.api_url)


def _state_file(home: Path) -> Path:
    return home / "offboard-server.json"


def local_server() -> LocalServer:
    """The local server as last started (``pid`` None when none was started or it stopped)."""
    home = server_home()
    try:
        state = json.loads(_state_file(home).read_text())
        return LocalServer(home=home, port=int(state["port"]), pid=int(state["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return LocalServer(home=home, port=DEFAULT_PORT, pid=None)


def start_local_server(port: int, timeout: float = START_TIMEOUT_SECONDS) -> LocalServer:
    """Start ``prefect server start`` in the background (its own session, output to a log file)
    and return once its API answers. ``prefect server start --background`` would leave the
    server's output in a pipe nobody reads; a full pipe stalls the server."""
    current = local_server()
    if current.up:
        return current
    home = server_home()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=home,
            env=_server_env(home),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LocalServer(home=home, port=port, pid=process.pid)
    # Prefect's own pid file too, so `prefect server stop` (with this PREFECT_HOME) stops it.
    (home / "server.pid").write_text(str(process.pid))
    _state_file(home).write_text(json.dumps({"port": port, "pid": process.pid}))
    try:
        wait_healthy(server.api_url, lambda: process.poll() is None, timeout, log_path)
        automation = subprocess.run(
            [sys.executable, "-m", "deploy.crash_detection"],
            cwd=Path(__file__).resolve().parents[1],
            env={**_server_env(home), "PREFECT_API_URL": server.api_url},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if automation.returncode != 0:
            last = (automation.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"could not create the crash-detection automation: {last}")
    except BaseException:
        stop_local_server()
        raise
    return server


def stop_local_server(timeout: float = 20.0) -> bool:
    """Stop the local server; False when none was running."""
    server = local_server()
    running = server.process_alive
    if running and server.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while server.process_alive and time.monotonic() < deadline:
            time.sleep(0.2)
        if server.process_alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
    for file in (_state_file(server.home), server.home / "server.pid"):
        file.unlink(missing_ok=True)
    return running


# --- the temporary server ---------------------------------------------------------------------


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A pre-exec hook: the kernel sends SIGTERM to the server when the CLI dies, however."""

    def hook() -> None:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the CLI died before the hook ran
            os._exit(1)

    return hook


@contextlib.contextmanager
def temporary_server(timeout: float = START_TIMEOUT_SECONDS) -> Iterator[str]:
    """A Prefect server for the duration, on the local server's database; yields its API URL."""
    spec = importlib.util.find_spec("prefect")
    assert spec is not None and spec.origin is not None
    home = server_home()
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log_path = home / "temporary-server.log"
    env = {
        **_server_env(home),
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(Path(spec.origin).parent.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]
    hook = _die_with_parent(os.getpid()) if sys.platform.startswith("linux") else None
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=hook,
        )
    try:
        wait_healthy(api_url, lambda: process.poll() is None, timeout, log_path)
        yield api_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _drain_prefect_workers() -> None:
    """Send the logs and events still queued before the server they go to stops."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=10)


@contextlib.contextmanager
def _use_api(api_url: str | None) -> Iterator[None]:
    """Point Prefect at ``api_url`` for the duration, in every thread it starts."""
    updates: dict[str, str] = {}
    if api_url:
        updates["PREFECT_API_URL"] = api_url
    saved = {name: os.environ.get(name) for name in updates}
    os.environ.update(updates)
    try:
        if "prefect" not in sys.modules or not updates:
            yield
            return
        import prefect.context
        import prefect.settings
        from prefect.settings import temporary_settings

        # Threads that do not copy the context (Prefect's event and log workers) read the
        # process-wide settings too, as Prefect's own test harness arranges.
        with (
            temporary_settings({getattr(prefect.settings, k): v for k, v in updates.items()}),
            prefect.context._temporary_global_settings_context(
                prefect.context.get_settings_context()
            ),
        ):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def configured_api_url() -> str | None:
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if "prefect" in sys.modules:
        from prefect.settings import PREFECT_API_URL

        return PREFECT_API_URL.value() or None
    return None


@contextlib.contextmanager
def existing_server() -> Iterator[str | None]:
    """The configured server, else the local one if it is up, else None (nothing started)."""
    configured = configured_api_url()
    if configured:
        with _use_api(None):
            yield configured
        return
    server = local_server()
    if server.up:
        with _use_api(server.api_url):
            yield server.api_url
        return
    yield None


@contextlib.contextmanager
def prefect_api() -> Iterator[str]:
    """The server this command's runs go to: configured, the local one, or a temporary one
    (announced in one line on stderr)."""
    with existing_server() as found:
        if found:
            yield found
            return
    print(FALLBACK_NOTICE, file=sys.stderr, flush=True)
    with temporary_server() as api_url, _use_api(api_url):
        try:
            yield api_url
        finally:
            _drain_prefect_workers()
