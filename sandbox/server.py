"""Run the embedded IAM sandbox: moto's threaded server on 127.0.0.1 with our extensions."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from sandbox.extension import (
    RequestLog,
    clear_faults,
    clear_identity_center_state,
    install,
    request_log,
    reset_last_accessed_jobs,
    set_sandbox_clock,
)
from sandbox.latency import set_latency_ms

__all__ = ["DEFAULT_PORT", "Sandbox", "main", "run_forever"]

DEFAULT_PORT = 5000
HOST = "127.0.0.1"
DUMMY_CREDENTIAL = "testing"
REGION = "us-east-1"


class _QuietRequestHandler(MotoRequestHandler):
    """Drops werkzeug's per-request access line; errors are still logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class _MotoServer(ThreadedMotoServer):
    """moto's threaded server, but a failed bind is reported instead of hanging start()."""

    def __init__(self, ip_address: str, port: int, *, quiet: bool) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self._quiet = quiet
        self.startup_error: BaseException | None = None

    def _server_entry(self) -> None:
        handler = _QuietRequestHandler if self._quiet else MotoRequestHandler
        try:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(
                self._ip_address, self._port, app, threaded=True, request_handler=handler
            )
        except BaseException as exc:
            self.startup_error = exc
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever()

    def stop(self) -> None:
        super().stop()
        if self._server is not None:
            # shutdown() only ends the serve loop; the listening socket must be closed too.
            self._server.server_close()
            self._server = None


class Sandbox:
    """An in-process IAM/STS endpoint speaking the real AWS query protocol over HTTP.

    moto keeps its state per process, so every Sandbox in one process shares users, the
    request log and injected faults; run one at a time.

    ``latency_ms`` delays every AWS request by that long, as real IAM's round trip does
    (sandbox.latency); ``set_latency_ms`` changes it while running.
    """

    def __init__(self, port: int = 0, *, quiet: bool = True, latency_ms: float = 0) -> None:
        if latency_ms < 0:
            raise ValueError("latency must be 0 or more milliseconds")
        self._requested_port = port
        self._quiet = quiet
        self._latency_ms = latency_ms
        self._server: _MotoServer | None = None
        self._port: int | None = None

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        install()
        set_latency_ms(self._latency_ms)
        server = _MotoServer(HOST, self._requested_port, quiet=self._quiet)
        server.start()
        if server.startup_error is not None:
            raise RuntimeError(
                f"IAM sandbox could not listen on {HOST}:{self._requested_port}: "
                f"{server.startup_error}"
            ) from server.startup_error
        self._port = server.get_host_and_port()[1]
        self._server = server
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            set_latency_ms(0)

    def set_latency_ms(self, milliseconds: float) -> None:
        """Delay every AWS request from now on by ``milliseconds`` (0: none)."""
        set_latency_ms(milliseconds)
        self._latency_ms = milliseconds

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("Sandbox has not been started")
        return self._port

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def requests(self) -> RequestLog:
        return request_log()

    def env(self) -> dict[str, str]:
        """Environment that points the AWS SDKs and CLI at this sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_IAM": self.endpoint,
            "AWS_ENDPOINT_URL_STS": self.endpoint,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self, service_name: str, **kwargs: Any) -> Any:
        """A boto3 client for this sandbox, without touching the process environment."""
        import boto3

        # Typed loosely: the service name is only known at run time.
        make_client: Callable[..., Any] = boto3.client
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            "aws_access_key_id": DUMMY_CREDENTIAL,
            "aws_secret_access_key": DUMMY_CREDENTIAL,
        }
        options.update(kwargs)
        return make_client(service_name, **options)

    def reset(self) -> None:
        """Forget all moto state, pending faults, the request log and last-accessed job settings.

        Users' recorded activity lives in moto's state, so it goes too; a condition clock pinned
        with :func:`sandbox.extension.set_sandbox_clock` follows real time again.
        """
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        clear_faults()
        clear_identity_center_state()
        reset_last_accessed_jobs()
        set_sandbox_clock(None)
        request_log().clear()


def _export_lines(env: dict[str, str]) -> list[str]:
    return [f"export {key}={value}" for key, value in env.items()]


def _wait_for_stop_signal(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Outside the main thread handlers cannot be set; `stop` or Ctrl-C still end the wait.
        with contextlib.suppress(ValueError):
            previous[signum] = signal.signal(signum, handle)
    try:
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)


def run_forever(
    port: int,
    seed_demo: bool,
    out: Callable[[str], object] = print,
    *,
    quiet: bool = True,
    stop: threading.Event | None = None,
    latency_ms: float = 0,
) -> None:
    """Serve the sandbox on 127.0.0.1:``port`` until SIGINT/SIGTERM, printing how to use it.

    ``stop`` ends it from another thread, where signal handlers cannot be installed;
    ``latency_ms`` delays every AWS request (see Sandbox).
    """
    with Sandbox(port=port, quiet=quiet, latency_ms=latency_ms) as box:
        if seed_demo:
            from sandbox.fixtures import seed_demo_users
            from sandbox.identity_center_fixtures import seed_demo_identity_center

            names = seed_demo_users(box.client("iam"))
            out(f"Seeded demo users: {', '.join(names)}")
            people = seed_demo_identity_center(box.client("sso-admin"), box.client("identitystore"))
            out(f"Seeded demo Identity Center users: {', '.join(people)}")
        out(f"IAM sandbox listening on {box.endpoint}")
        if latency_ms:
            out(f"Every AWS request waits {latency_ms:g} ms before it is answered.")
        out("Point AWS clients at it with:")
        for line in _export_lines(box.env()):
            out(line)
        out("Press Ctrl-C to stop.")
        sys.stdout.flush()
        _wait_for_stop_signal(stop or threading.Event())
    out("IAM sandbox stopped.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Serve the embedded IAM sandbox on 127.0.0.1."
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on (0 picks a free one)"
    )
    parser.add_argument(
        "--seed-demo", action="store_true", help="create demo users with every attachment kind"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0,
        help="delay every AWS request by this many milliseconds, as real IAM's round trip does",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.latency_ms < 0:
        parser.error("--latency-ms must be 0 or more")
    try:
        run_forever(args.port, args.seed_demo, quiet=not args.verbose, latency_ms=args.latency_ms)
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0
