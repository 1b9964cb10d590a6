"""One sandbox and one Prefect test harness per session; each test makes its own users."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

# Small retry delays for the suite; read once when the task modules are imported.
os.environ.setdefault("OFFBOARD_RETRY_BACKOFF_SECONDS", "0.02")
os.environ.setdefault("OFFBOARD_RETRY_JITTER_FACTOR", "0")
# Prefect's console handler keeps the first stderr it saw; CLI tests swap stderr per call.
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
# Every file the engine writes during the suite goes under one temporary home.
ENGINE_FILES = Path(tempfile.mkdtemp(prefix="offboard-tests-"))
os.environ["OFFBOARD_HOME"] = str(ENGINE_FILES)
for _name in ("OFFBOARD_AUDIT_LOG", "OFFBOARD_SNAPSHOT_STORE", "OFFBOARD_LEAVE_CALENDAR"):
    os.environ.pop(_name, None)
# A .env in the folder the suite runs from (the repository) must not change the settings:
# tests that read a .env point OFFBOARD_ENV_FILE at their own.
os.environ["OFFBOARD_ENV_FILE"] = ""
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The caller's terminal size must not shape the CLI's tables (pytest-xdist's workers set 80x24).
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

import boto3
import pytest

from sandbox.server import Sandbox
from tasks.aws import set_client_factory


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as box:
        saved = {key: os.environ.get(key) for key in box.env()}
        os.environ.update(box.env())
        set_client_factory(None)
        yield box
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        set_client_factory(None)


@pytest.fixture
def sandbox_latency(sandbox: Sandbox) -> Iterator[Callable[[float], None]]:
    """Sets the session sandbox's per-call latency (milliseconds) for one test; 0 again after."""
    try:
        yield sandbox.set_latency_ms
    finally:
        sandbox.set_latency_ms(0)


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    storage = Path(tmp_path_factory.mktemp("prefect-results"))
    with (
        temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: storage}),
        prefect_test_harness(server_startup_timeout=60),
    ):
        yield


@pytest.fixture
def cli_env(sandbox: Sandbox, prefect_harness: None, tmp_path: Path) -> dict[str, str]:
    """The environment an operator has: the sandbox, the running Prefect server, a home."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFBOARD_")}
    env.update(sandbox.env())
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    env["OFFBOARD_HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture
def iam(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    """The test's own admin client (separate from the engine's)."""
    return boto3.client(
        "iam",
        endpoint_url=sandbox.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def sso(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    """The test's own sso-admin client (Identity Center instances, permission sets)."""
    return sandbox.client("sso-admin")


@pytest.fixture
def store(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    """The test's own identitystore client (Identity Center users and groups)."""
    return sandbox.client("identitystore")


@pytest.fixture
def user_name(request: pytest.FixtureRequest) -> str:
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40]
    return f"{base}-{uuid.uuid4().hex[:8]}"
