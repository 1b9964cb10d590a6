"""Random IAM faults under a batch, and a run killed mid-way then finished by a rerun: every user
ends deleted, each step is recorded done exactly once, and the audit chain verifies."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from audit.trail import AuditTrailError, default_trail, read_records, verify
from flows.batch_models import BatchSelection, BatchTarget
from flows.offboard_batch import run_batch
from flows.offboard_user import run_offboarding
from sandbox.faults import clear_faults, inject_fault, inject_fault_rate, injected_fault_counts
from sandbox.fixtures import create_loaded_user
from tasks.procedure import DELETION_PROCEDURE
from tasks.snapshot import load_snapshot
from tests.helpers import as_procedure, audit_records, engine_settings

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")

SUCCESS = ("done", "already_absent")
STEPS = [step.name for step in DELETION_PROCEDURE]


def light_user(iam: Any, name: str) -> None:
    create_loaded_user(
        iam, name, groups=1, inline=1, managed=1, access_keys=1, service_credentials=1
    )


def gone(iam: Any, name: str) -> bool:
    try:
        iam.get_user(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        return True
    return False


def test_random_faults_are_iam_errors_or_dropped_connections_that_change_nothing(
    sandbox, user_name
):
    once = Config(retries={"total_max_attempts": 1})
    iam = sandbox.client("iam", config=once)
    try:
        inject_fault_rate(1.0, ("drop",), seed=1)
        with pytest.raises(ConnectionClosedError):
            iam.create_user(UserName=user_name)
        for kind, status in (("Throttling", 400), ("ServiceFailure", 500)):
            inject_fault_rate(1.0, (kind,), seed=1)
            with pytest.raises(ClientError) as raised:
                iam.create_user(UserName=user_name)
            assert raised.value.response["Error"]["Code"] == kind
            assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        # Other services are not faulted.
        assert sandbox.client("sts", config=once).get_caller_identity()["Account"]
        assert injected_fault_counts() == {"ServiceFailure": 1}
        with pytest.raises(ValueError):
            inject_fault_rate(0.5, ("Teapot",))
    finally:
        clear_faults()
    assert gone(iam, user_name)
    iam.create_user(UserName=user_name)


def test_forty_users_under_thirty_percent_iam_faults_end_deleted_with_one_record_per_step(
    iam, user_name
):
    names = [f"{user_name}-{i:02d}" for i in range(40)]
    for name in names:
        light_user(iam, name)
    selection = BatchSelection(users=tuple(BatchTarget(user_name=name) for name in names))
    inject_fault_rate(0.3, seed=20261128)
    try:
        with engine_settings(iam_calls_per_second="0"):
            report = run_batch(selection, allow_large_batch=40)
        faults = injected_fault_counts()
    finally:
        clear_faults()

    assert [u.report.outcome for u in report.users] == ["deleted"] * 40, [
        u.report.failure for u in report.users if u.report.failure
    ]
    assert all(gone(iam, name) for name in names)
    assert set(faults) == {"Throttling", "ServiceFailure", "drop"}
    assert sum(faults.values()) > 300
    records = audit_records(report.run_id)
    for name in names:
        mine = [r for r in records if r.target.user_name == name]
        assert as_procedure([r.step for r in mine if r.outcome in SUCCESS]) == [
            "review",
            "snapshot",
            *STEPS,
        ]
    assert verify(default_trail().path).ok


def prefect_api_env() -> dict[str, str]:
    """The test harness's API server, so the child process need not start its own."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    return {"PREFECT_API_URL": url} if url else {}


def wait_for_record(log: Path, step: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        try:
            if any(r.step == step and r.outcome == "done" for r in read_records(log)):
                return
        except (FileNotFoundError, AuditTrailError):
            pass
        time.sleep(0.01)
    raise AssertionError(f"no {step} record within {timeout} s")


def test_a_run_killed_while_one_step_retries_is_finished_by_a_rerun(
    sandbox, iam, user_name, tmp_path
):
    """Step 5 keeps being throttled while the other attachment steps end beside it; the run is
    killed then, and a rerun finds their items gone and finishes step 5 and the user."""
    light_user(iam, user_name)
    log = tmp_path / "audit.jsonl"
    store = tmp_path / "snapshots"
    env = {
        **os.environ,
        **sandbox.env(),
        **prefect_api_env(),
        "OFFBOARD_AUDIT_LOG": str(log),
        "OFFBOARD_SNAPSHOT_STORE": str(store),
        "OFFBOARD_LOG_LEVEL": "WARNING",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(tmp_path / "results"),
    }
    offboard = Path(sys.executable).with_name("offboard")
    throttled = "service_specific_credentials"
    others = [step for step in STEPS[:-1] if step != throttled]
    inject_fault("DeleteServiceSpecificCredential", "Throttling", count=10_000)
    try:
        with (tmp_path / "run.out").open("wb") as out:
            proc = subprocess.Popen(
                [str(offboard), "run", user_name, "--yes"], env=env, stdout=out, stderr=out
            )
            try:
                for step in others:
                    wait_for_record(log, step, proc, timeout=90)
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.kill()
                proc.wait(timeout=30)
    finally:
        clear_faults()
    assert proc.returncode == -signal.SIGKILL
    first = list(read_records(log))
    first_run = first[0].run_id
    assert as_procedure([r.step for r in first if r.outcome in SUCCESS]) == [
        "review",
        "snapshot",
        *others,
    ]
    (snapshot_record,) = [r for r in first if r.step == "snapshot"]

    with engine_settings(audit_log=str(log), snapshot_store=str(store)):
        report = run_offboarding(user_name=user_name)

    assert report.outcome == "deleted" and gone(iam, user_name)
    location = snapshot_record.resources[0]
    assert (
        snapshot_record.message
        == f"sha256 {hashlib.sha256(Path(location).read_bytes()).hexdigest()}"
    )
    snapshot = load_snapshot(location)
    assert snapshot.run_id == first_run and snapshot.user.user_name == user_name
    assert len(snapshot.inventory.ssh_public_keys) == 1
    records = list(read_records(log))
    assert {r.run_id for r in records} == {first_run, report.run_id}
    second = [r for r in records if r.run_id == report.run_id]
    assert as_procedure([r.step for r in second if r.step in others]) == others
    assert {r.outcome for r in second if r.step in others} == {"skipped"}
    deletions = [r.step for r in records if r.outcome in SUCCESS and r.step in STEPS]
    assert sorted(deletions) == sorted(STEPS) and deletions[-1] == "user"
    assert verify(log).ok
