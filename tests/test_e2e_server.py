"""End to end on a real Prefect server: deployments from deploy/prefect.yaml, a process worker,
the HR webhook receiver, the sandbox — HR events in, users gone, reruns in place."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from audit.trail import read_records, verify
from deploy.local_stack import BIN, PROJECT, LocalStack
from deploy.webhook import sign
from sandbox.extension import clear_faults, inject_fault
from sandbox.fixtures import create_loaded_user

SECRET = "e2e-shared-secret-0123456789"
CRASH_AFTER_SECONDS = 35


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post_event(port: int, event: dict[str, Any] | bytes, headers: dict[str, str] | None = None):
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hr/events",
        data=body,
        headers={
            "Content-Type": "application/json",
            **(headers if headers is not None else sign(SECRET, body)),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


class Stack:
    def __init__(self, stack: LocalStack, webhook_port: int, audit_log: Path) -> None:
        self.stack = stack
        self.webhook_port = webhook_port
        self.audit_log = audit_log

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{self.stack.api_url}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def flow_runs(self) -> list[dict[str, Any]]:
        return self.api("POST", "/flow_runs/filter", {"limit": 200})

    def wait_run(self, run_id: str, states: set[str], timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api("GET", f"/flow_runs/{run_id}")
            if run["state"] and run["state"]["type"] in states:
                return run
            time.sleep(1)
        raise TimeoutError(f"flow run {run_id} not in {states}: {run['state']}")

    def wait_running(self, run_name: str, timeout: float) -> str:
        """The id of the run named ``run_name`` once the server has it Running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.api(
                "POST", "/flow_runs/filter", {"flow_runs": {"name": {"any_": [run_name]}}}
            )
            if runs and runs[0]["state"] and runs[0]["state"]["type"] == "RUNNING":
                return str(runs[0]["id"])
            time.sleep(0.3)
        raise TimeoutError(f"{run_name} never ran")

    def offboard(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "offboard"), *args],
            cwd=PROJECT,
            env={**self.stack.env(), **env},
            capture_output=True,
            text=True,
            timeout=120,
        )


def start_stack(sandbox, home: Path, database_url: str | None = None) -> tuple[LocalStack, Stack]:
    audit_log = home / "audit.jsonl"
    stack = LocalStack(
        home=home,
        api_port=free_port(),
        database_url=database_url,
        # The shortest that exceeds the 30 s heartbeat, so the crash test waits little.
        crash_after_seconds=CRASH_AFTER_SECONDS,
        extra_env={
            **sandbox.env(),
            "OFFBOARD_AUDIT_LOG": str(audit_log),
            "OFFBOARD_SNAPSHOT_STORE": str(home / "snapshots"),
            "OFFBOARD_WEBHOOK_SECRET": SECRET,
            "OFFBOARD_WEBHOOK_DB": str(home / "webhook.sqlite3"),
            "OFFBOARD_RETRY_BACKOFF_SECONDS": "0.02",
            "OFFBOARD_LOG_LEVEL": "WARNING",
        },
    )
    webhook_port = free_port()
    try:
        stack.up(webhook_port)
        wait_http(f"http://127.0.0.1:{webhook_port}/healthz")
    except BaseException:
        stack.stop()
        raise
    return stack, Stack(stack, webhook_port, audit_log)


@pytest.fixture(scope="module")
def server(sandbox, tmp_path_factory) -> Iterator[Stack]:
    stack, handle = start_stack(sandbox, tmp_path_factory.mktemp("prefect-sqlite"))
    yield handle
    stack.stop()


def termination(user: str, event_id: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id or f"evt-{uuid.uuid4().hex[:12]}",
        "type": "termination",
        "iam_user_name": user,
        "effective_at": "2026-01-01T00:00:00Z",
    }


def test_signed_termination_event_offboards_the_user_once(server, iam, user_name):
    create_loaded_user(iam, user_name)
    event = termination(user_name)
    status, body = post_event(server.webhook_port, event)
    assert status == 202, body
    [run_id] = body["flow_run_ids"]
    run = server.wait_run(run_id, {"COMPLETED", "FAILED", "CRASHED"})
    assert run["state"]["type"] == "COMPLETED", run["state"]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)
    records = [r for r in read_records(server.audit_log) if r.run_id == run_id]
    assert [r.step for r in records][-1] == "user" and records[-1].outcome == "done"
    assert all(r.ticket == event["event_id"] for r in records)
    assert verify(server.audit_log).ok

    runs_before = len(server.flow_runs())
    status, again = post_event(server.webhook_port, event)
    assert status == 202 and again["flow_run_ids"] == [run_id] and again["duplicate"] is True
    assert len(server.flow_runs()) == runs_before


@pytest.mark.parametrize(
    "case",
    ["bad-signature", "no-signature", "stale", "malformed", "schema", "unknown-user"],
)
def test_bad_requests_get_their_status_and_create_no_flow_run(server, case):
    runs_before = len(server.flow_runs())
    event = termination("nobody-at-all")
    body = json.dumps(event).encode()
    expected, headers = {
        "bad-signature": (
            401,
            {**sign(SECRET, body), "X-Offboard-Signature": "sha256=" + "0" * 64},
        ),
        "no-signature": (401, {}),
        "stale": (401, sign(SECRET, body, timestamp=int(time.time()) - 3600)),
        "malformed": (400, sign(SECRET, b"{not json")),
        "schema": (422, sign(SECRET, json.dumps({**event, "type": "promotion"}).encode())),
        "unknown-user": (404, sign(SECRET, body)),
    }[case]
    payload = {
        "malformed": b"{not json",
        "schema": json.dumps({**event, "type": "promotion"}).encode(),
    }.get(case, body)
    status, answer = post_event(server.webhook_port, payload, headers)
    assert status == expected, answer
    assert len(server.flow_runs()) == runs_before


def test_failed_run_is_rerun_in_place_without_redoing_completed_steps(
    server, sandbox, iam, user_name
):
    create_loaded_user(iam, user_name)
    inject_fault("DetachUserPolicy", "AccessDenied", count=1000, status=403)
    try:
        status, body = post_event(server.webhook_port, termination(user_name))
        assert status == 202, body
        [run_id] = body["flow_run_ids"]
        failed = server.wait_run(run_id, {"FAILED", "COMPLETED", "CRASHED"})
    finally:
        clear_faults()
    assert failed["state"]["type"] == "FAILED"
    assert "deactivated_pending_deletion" in failed["state"]["message"]
    assert "attached_policies" in failed["state"]["message"]
    listed = server.offboard("runs", "--state", "failed", "--json")
    assert listed.returncode == 0, listed.stderr
    assert run_id in [row["flow_run_id"] for row in json.loads(listed.stdout)]

    mark = sandbox.requests.mark()
    rerun = server.offboard("rerun", run_id)
    assert rerun.returncode == 0, rerun.stderr
    done = server.wait_run(run_id, {"COMPLETED", "FAILED", "CRASHED"})
    assert done["state"]["type"] == "COMPLETED", done["state"]
    assert done["run_count"] == 2
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)
    actions = [c.action for c in sandbox.requests.since(mark) if c.service == "iam"]
    # Steps 1-6 finished in the first attempt: nothing of theirs is deleted again. Step 7 only
    # removes the deny policy the fallback put on.
    for redone in (
        "DeleteLoginProfile",
        "DeleteAccessKey",
        "DeleteSigningCertificate",
        "DeleteSSHPublicKey",
        "DeleteServiceSpecificCredential",
        "DeactivateMFADevice",
    ):
        assert redone not in actions
    assert actions.count("DeleteUserPolicy") == 1
    records = [r for r in read_records(server.audit_log) if r.run_id == run_id]
    assert ("run", "run.rerun") in [(r.step, r.action) for r in records]
    assert records[-1].step == "user" and records[-1].outcome == "done"


def test_rerun_refuses_a_run_that_did_not_fail(server):
    result = server.offboard("rerun", str(uuid.uuid4()))
    assert result.returncode == 2 and "no flow run" in result.stderr


def test_a_cli_run_belongs_to_its_deployment_and_runs_lists_its_outcome(server, iam, user_name):
    """`offboard run` on a server: the run comes from the offboard-user deployment (so the UI's
    Retry works), its state message carries the outcome, and `runs` shows the full id, the
    outcome and the UI URL."""
    create_loaded_user(iam, user_name)
    result = server.offboard("run", user_name, "--yes", "--json")
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    run = server.api("GET", f"/flow_runs/{run_id}")
    assert run["deployment_id"] is not None
    assert run["state"]["type"] == "COMPLETED" and run["state"]["message"] == "deleted"
    listed = server.offboard("runs", "--json", "--limit", "200")
    assert listed.returncode == 0, listed.stderr
    [row] = [row for row in json.loads(listed.stdout) if row["flow_run_id"] == run_id]
    assert row["outcome"] == "deleted" and row["user"] == user_name
    assert row["ui_url"] == f"{server.stack.api_url.removesuffix('/api')}/runs/flow-run/{run_id}"
    table = server.offboard("runs", "--limit", "200", COLUMNS="80")
    assert run_id in table.stdout


def test_a_held_run_is_finished_by_rerun_with_the_guard_override(server, iam, user_name):
    """The activity guard holds a recently active user (run Failed, user deactivated, `runs`
    names the guard); `rerun --override-activity-guard --reason` finishes that same run."""
    from sandbox.access_activity import record_password_use

    create_loaded_user(iam, user_name)
    record_password_use(user_name, datetime.now(UTC) - timedelta(days=1))
    held = server.offboard("run", user_name, "--yes")
    assert held.returncode == 3, held.stderr
    listed = server.offboard("runs", "--state", "failed", "--json", "--limit", "200")
    [row] = [r for r in json.loads(listed.stdout) if r["user"] == user_name]
    assert row["outcome"] == "deactivated_pending_deletion"
    assert row["failing_step"] == "guard" and row["error_code"] == "ActivityGuard"
    assert row["message"] and "None" not in row["message"]
    run_id = row["flow_run_id"]

    refused = server.offboard("rerun", run_id, "--override-activity-guard")
    assert refused.returncode == 2 and "--reason" in refused.stderr
    rerun = server.offboard("rerun", run_id, "--override-activity-guard", "--reason", "left")
    assert rerun.returncode == 0, rerun.stderr
    assert f"/runs/flow-run/{run_id}" in rerun.stderr
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)
    run = server.api("GET", f"/flow_runs/{run_id}")
    assert run["state"]["type"] == "COMPLETED" and run["run_count"] == 2
    assert run["parameters"]["override_activity_guard"] is True
    records = [r for r in read_records(server.audit_log) if r.run_id == run_id]
    assert ("guard", "guard.override") in [(r.step, r.action) for r in records]


def test_a_killed_cli_run_is_marked_crashed_listed_and_finished_by_rerun(server, iam, user_name):
    """SIGKILL of `offboard run` mid-run: its watchdog marks the run Crashed at once,
    `runs --state crashed` lists it, and `rerun` finishes the same run."""
    create_loaded_user(iam, user_name)
    # Step 1 keeps failing with a retryable error, so the run is mid-flight when killed.
    inject_fault("DeleteLoginProfile", "ServiceFailure", count=10_000, status=500)
    env = {**server.stack.env(), "OFFBOARD_RETRY_BACKOFF_SECONDS": "5"}
    env.pop("PREFECT_FLOWS_HEARTBEAT_FREQUENCY")  # the watchdog alone, as for a user's CLI
    cli = subprocess.Popen(
        [str(BIN / "offboard"), "run", user_name, "--yes"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run_id = server.wait_running(f"offboard-{user_name}", timeout=120)
        cli.kill()
        cli.wait(timeout=10)
    finally:
        if cli.poll() is None:
            cli.kill()
        clear_faults()
    crashed = server.wait_run(run_id, {"CRASHED", "COMPLETED", "FAILED"}, timeout=60)
    assert crashed["state"]["type"] == "CRASHED", crashed["state"]
    assert "died" in crashed["state"]["message"]
    listed = server.offboard("runs", "--state", "crashed", "--json", "--limit", "200")
    assert listed.returncode == 0, listed.stderr
    [row] = [r for r in json.loads(listed.stdout) if r["flow_run_id"] == run_id]
    assert row["outcome"] == "crashed"

    rerun = server.offboard("rerun", run_id)
    assert rerun.returncode == 0, rerun.stderr
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)
    assert server.api("GET", f"/flow_runs/{run_id}")["state"]["type"] == "COMPLETED"


def test_a_run_whose_heartbeats_stop_is_marked_crashed_by_the_server(server):
    """The server's automation (deploy/crash_detection.py): a Running flow run that sent a
    heartbeat and then nothing within the limit is set Crashed, as a killed worker leaves it."""
    flow = server.api("POST", "/flows/", {"name": f"heartbeat-probe-{uuid.uuid4().hex[:8]}"})
    run = server.api("POST", "/flow_runs/", {"flow_id": flow["id"], "state": {"type": "RUNNING"}})
    server.api(
        "POST",
        "/events",
        [
            {
                "id": str(uuid.uuid4()),
                "occurred": datetime.now(UTC).isoformat(),
                "event": "prefect.flow-run.heartbeat",
                "resource": {"prefect.resource.id": f"prefect.flow-run.{run['id']}"},
            }
        ],
    )
    crashed = server.wait_run(run["id"], {"CRASHED"}, timeout=CRASH_AFTER_SECONDS + 90)
    assert "no heartbeat" in crashed["state"]["message"]


def test_a_failed_cli_batch_is_rerun_in_place(server, iam, user_name, tmp_path):
    """`offboard batch` on a server: a run of the offboard-batch deployment; when a user's step
    fails the batch run is Failed, and `rerun` finishes that same batch run."""
    names = [f"{user_name}-{i}" for i in range(2)]
    for name in names:
        create_loaded_user(iam, name)
    users = tmp_path / "users.txt"
    users.write_text("\n".join(names) + "\n")
    inject_fault("DetachUserPolicy", "AccessDenied", count=1000, status=403)
    try:
        failed = server.offboard("batch", "--users-file", str(users), "--yes", "--json")
    finally:
        clear_faults()
    assert failed.returncode == 1, failed.stderr
    listed = server.offboard("runs", "--state", "failed", "--json", "--limit", "200")
    batch_runs = [
        r for r in json.loads(listed.stdout) if r["user"] and r["user"].startswith("batch")
    ]
    assert batch_runs, listed.stdout
    run_id = batch_runs[0]["flow_run_id"]
    assert server.api("GET", f"/flow_runs/{run_id}")["deployment_id"] is not None

    rerun = server.offboard("rerun", run_id)
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    for name in names:
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_user(UserName=name)
    run = server.api("GET", f"/flow_runs/{run_id}")
    assert run["state"]["type"] == "COMPLETED" and run["run_count"] == 2


# --- the production database path -------------------------------------------------------------


def _pg_bin() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[str, list[str]]]:
    pg = _pg_bin()
    if pg is None:
        pytest.skip(
            "PostgreSQL is not installed (Debian package 'postgresql'); .ci/run installs it"
        )
    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    data = Path(tempfile.mkdtemp(prefix="offboard-pg-"))
    port = free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root; the Debian package creates the postgres user.
        shutil.chown(data, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            str(pg / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(data / "server.log"),
            "-w",
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [
                *run_as,
                str(pg / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "prefect",
            ],
            check=True,
            capture_output=True,
        )
        psql = [
            *run_as,
            str(pg / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            "prefect",
            "-tA",
            "-c",
        ]
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect", psql
    finally:
        subprocess.run(
            [*run_as, str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
        )


def test_the_same_flow_on_a_postgresql_server(sandbox, iam, user_name, postgres, tmp_path_factory):
    url, psql = postgres
    stack, handle = start_stack(sandbox, tmp_path_factory.mktemp("prefect-pg"), url)
    try:
        create_loaded_user(iam, user_name)
        status, body = post_event(handle.webhook_port, termination(user_name))
        assert status == 202, body
        run_id = body["flow_run_ids"][0]
        run = handle.wait_run(run_id, {"COMPLETED", "FAILED", "CRASHED"})
        assert run["state"]["type"] == "COMPLETED", run["state"]
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_user(UserName=user_name)
        # The run lives in PostgreSQL, not in a SQLite file.
        stored = subprocess.run(
            [*psql, f"select count(*) from flow_run where id = '{run_id}'"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert stored.stdout.strip() == "1"
    finally:
        stack.stop()
