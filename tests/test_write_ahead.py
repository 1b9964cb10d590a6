"""Write-ahead records: an intent is on disk before each step's mutating calls and its outcome
after; a crash or a lost answer is reconciled by the rerun as done by the earlier attempt (not
as already absent); a trail that cannot be written stops deletion and deactivates the user."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session
from moto.iam.responses import IamResponse
from typer.testing import CliRunner

from audit.records import AuditEvent
from audit.trail import AuditTrail, default_trail, read_records, verify
from cli.main import app
from flows.offboard_user import offboard_user, run_offboarding
from sandbox.fixtures import create_loaded_user
from tasks.aws import iam_client
from tasks.procedure import DELETION_PROCEDURE
from tests.helpers import audit_records, engine_settings, iam_mutations, inject_client_error
from tests.test_faults_and_crash import gone, light_user, prefect_api_env

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")

STEPS = [step.name for step in DELETION_PROCEDURE]
READ_ONLY = ("Get", "List", "Generate", "Simulate")
runner = CliRunner()


def user_records(user_name: str, log: Path | None = None) -> list[Any]:
    path = log or default_trail().path
    return [r for r in read_records(path) if r.target.user_name == user_name]


@contextmanager
def engine_hook(event: str, hook: Any) -> Iterator[None]:
    events = iam_client().meta.events
    events.register(event, hook, unique_id=f"test-{event}")
    try:
        yield
    finally:
        events.unregister(event, unique_id=f"test-{event}")


def test_each_mutating_call_is_preceded_by_an_intent_on_disk_and_followed_by_its_outcome(
    sandbox, iam, user_name
):
    """While each delete is sent, the trail holds its step's intent naming that item and no
    outcome of that step yet; after the run every intent is answered by its step's outcome, and
    DeleteUser's intent follows every other step's outcome."""
    create_loaded_user(iam, user_name)
    seen: list[tuple[str, list[Any], dict[str, Any]]] = []

    def check(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name.startswith(READ_ONLY):
            return
        seen.append((model.name, user_records(user_name), params))

    with engine_hook("before-call.iam", check):
        report = run_offboarding(user_name=user_name)

    assert report.outcome == "deleted" and gone(iam, user_name)
    assert seen, "no mutating call was seen"
    for operation, on_disk, params in seen:
        mine = [r for r in on_disk if r.run_id == report.run_id]
        body = params["body"]
        named = {v for k, v in body.items() if k not in {"Action", "Version", "UserName"}}
        intent = next(
            (
                r
                for r in mine
                if r.outcome == "intent"
                and (
                    # A login profile has no id of its own: its step names it.
                    r.step == "login_profile"
                    if operation == "DeleteLoginProfile"
                    # DeleteUser names only the user, as its step's intent does.
                    else (r.step == "user") == (operation == "DeleteUser")
                    and bool((named or {body["UserName"]}) & set(r.resources))
                )
            ),
            None,
        )
        assert intent is not None, (
            operation,
            body,
            [(r.step, r.outcome, r.resources) for r in mine],
        )
        later = mine[mine.index(intent) + 1 :]
        assert not [r for r in later if r.step == intent.step], (operation, intent.step)
    deletes = {op for op, _, _ in seen}
    assert {"DeleteAccessKey", "DeleteSigningCertificate", "DeleteUser"} <= deletes
    records = audit_records(report.run_id)
    steps = [(r.step, r.outcome) for r in records if r.step in STEPS]
    # Loaded user: every step has something to remove, so each is an intent then "done".
    for step in STEPS:
        assert [pair for pair in steps if pair[0] == step] == [(step, "intent"), (step, "done")]
    assert steps[-2:] == [("user", "intent"), ("user", "done")]
    keys = next(r for r in records if r.step == "access_keys" and r.outcome == "intent")
    assert set(keys.resources) == set(report.inventory.items("access_keys"))
    assert verify(default_trail().path).ok


def test_a_step_with_nothing_to_remove_writes_no_intent(iam, user_name):
    iam.create_user(UserName=user_name)
    report = run_offboarding(user_name=user_name)
    intents = [r.step for r in audit_records(report.run_id) if r.outcome == "intent"]
    assert report.outcome == "deleted" and intents == ["user"]


def test_delete_user_whose_answer_was_lost_is_recorded_done_by_earlier_attempt(iam, user_name):
    """The sandbox deletes the user, the answer is lost (a connection error after the call),
    the step's retry gets NoSuchEntity: the run removed it, so not 'already_absent'."""
    light_user(iam, user_name)
    lost: list[str] = []

    def lose_answer(**_: Any) -> None:
        if not lost:
            lost.append("DeleteUser")
            raise ConnectionClosedError(endpoint_url="http://sandbox")

    with engine_hook("after-call.iam.DeleteUser", lose_answer):
        report = run_offboarding(user_name=user_name)

    assert lost and report.outcome == "deleted" and gone(iam, user_name)
    final = [r for r in audit_records(report.run_id) if r.step == "user"]
    assert [r.outcome for r in final] == ["intent", "done_by_earlier_attempt"]
    assert final[-1].resources == (user_name,)
    (result,) = [s for s in report.steps if s.step == "user"]
    assert result.done_earlier == (user_name,) and result.already_absent == ()


def test_a_delete_done_but_whose_answer_botocore_never_saw_is_not_already_absent(iam, user_name):
    """Within botocore's own retries: the first HTTP attempt reaches the sandbox, which deletes
    the key, but the connection drops before the answer; the retry is told NoSuchEntity."""
    light_user(iam, user_name)
    (key_id,) = [
        k["AccessKeyId"] for k in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    ]
    sent: list[int] = []

    def deliver_then_drop(request: Any, **_: Any) -> None:
        if not sent:
            sent.append(URLLib3Session().send(request).status_code)
            raise ConnectionClosedError(endpoint_url=request.url)

    with engine_hook("before-send.iam.DeleteAccessKey", deliver_then_drop):
        report = run_offboarding(user_name=user_name)

    assert sent == [200] and report.outcome == "deleted"
    keys = [r for r in audit_records(report.run_id) if r.step == "access_keys"]
    assert [(r.outcome, r.resources) for r in keys] == [
        ("intent", (key_id,)),
        ("done_by_earlier_attempt", (key_id,)),
    ]


def test_someone_else_deleting_an_item_is_still_already_absent(iam, user_name):
    light_user(iam, user_name)

    def delete_first(params: dict[str, Any], **_: Any) -> None:
        iam.delete_access_key(UserName=user_name, AccessKeyId=params["body"]["AccessKeyId"])

    with engine_hook("before-call.iam.DeleteAccessKey", delete_first):
        report = run_offboarding(user_name=user_name)

    keys = [r.outcome for r in audit_records(report.run_id) if r.step == "access_keys"]
    assert report.outcome == "deleted" and keys == ["intent", "already_absent"]


# --- a process killed mid-way ----------------------------------------------------------------


@pytest.fixture
def child_env(sandbox, tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        **sandbox.env(),
        **prefect_api_env(),
        "OFFBOARD_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "OFFBOARD_SNAPSHOT_STORE": str(tmp_path / "snapshots"),
        "OFFBOARD_LOG_LEVEL": "WARNING",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(tmp_path / "results"),
    }


def run_killed_by_sandbox(
    monkeypatch, user_name: str, env: dict[str, str], method: str, tmp_path: Path
) -> None:
    """`offboard run` in a child process; the sandbox SIGKILLs it right after doing `method`
    for this user, before the answer leaves, so the child never learns the call succeeded."""
    child: list[subprocess.Popen[bytes]] = []
    original = getattr(IamResponse, method)

    def act_then_kill(self: IamResponse) -> Any:
        result = original(self)
        if self._get_param("UserName") == user_name and child:
            child[0].send_signal(signal.SIGKILL)
            child[0].wait(timeout=30)
        return result

    monkeypatch.setattr(IamResponse, method, act_then_kill)
    offboard = Path(sys.executable).with_name("offboard")
    with (tmp_path / "run.out").open("wb") as out:
        proc = subprocess.Popen(
            [str(offboard), "run", user_name, "--yes"], env=env, stdout=out, stderr=out
        )
        child.append(proc)
        try:
            proc.wait(timeout=120)
        finally:
            proc.kill()
            proc.wait(timeout=30)
    monkeypatch.setattr(IamResponse, method, original)
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "run.out").read_text()


def test_sigkill_right_after_delete_user_then_a_new_run_ends_0_deleted(
    monkeypatch, iam, user_name, child_env, tmp_path
):
    """The user is gone and the killed run never recorded it; the trail's intent and the
    run's snapshot prove who deleted it: exit 0, outcome deleted, not 'no IAM user'."""
    light_user(iam, user_name)
    user_id = iam.get_user(UserName=user_name)["User"]["UserId"]
    log = Path(child_env["OFFBOARD_AUDIT_LOG"])
    run_killed_by_sandbox(monkeypatch, user_name, child_env, "delete_user", tmp_path)

    assert gone(iam, user_name)
    killed = user_records(user_name, log)
    assert (killed[-1].step, killed[-1].outcome) == ("user", "intent")
    killed_run = killed[-1].run_id

    with engine_settings(
        audit_log=child_env["OFFBOARD_AUDIT_LOG"],
        snapshot_store=child_env["OFFBOARD_SNAPSHOT_STORE"],
    ):
        result = runner.invoke(app, ["run", user_name, "--yes", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outcome"] == "deleted"
    assert report["user"]["user_id"] == user_id
    snapshot = report["snapshot"]["location"]
    assert Path(snapshot).is_file() and killed_run in snapshot
    last = user_records(user_name, log)[-1]
    assert (last.step, last.action, last.outcome) == (
        "user",
        "iam:DeleteUser",
        "done_by_earlier_attempt",
    )
    assert last.target.user_id == user_id and last.run_id == report["run_id"] != killed_run
    assert killed_run in (last.message or "")
    assert verify(log).ok

    # Answered now: a later run is told the truth, that there is no such user.
    with engine_settings(audit_log=str(log), snapshot_store=child_env["OFFBOARD_SNAPSHOT_STORE"]):
        again = runner.invoke(app, ["run", user_name, "--yes"])
    assert again.exit_code == 2 and "no IAM user" in again.stderr


def test_sigkill_between_two_service_credentials_is_reconciled_by_the_rerun(
    monkeypatch, iam, user_name, child_env, tmp_path
):
    """Killed after the first of two service credentials was deleted: the rerun records that
    one as done by the earlier attempt and deletes the other."""
    light_user(iam, user_name)
    creds = iam.list_service_specific_credentials(UserName=user_name)["ServiceSpecificCredentials"]
    assert len(creds) == 1
    iam.create_service_specific_credential(
        UserName=user_name, ServiceName="cassandra.amazonaws.com"
    )
    ids = [
        c["ServiceSpecificCredentialId"]
        for c in iam.list_service_specific_credentials(UserName=user_name)[
            "ServiceSpecificCredentials"
        ]
    ]
    log = Path(child_env["OFFBOARD_AUDIT_LOG"])
    run_killed_by_sandbox(
        monkeypatch, user_name, child_env, "delete_service_specific_credential", tmp_path
    )
    left = iam.list_service_specific_credentials(UserName=user_name)["ServiceSpecificCredentials"]
    (still_there,) = [c["ServiceSpecificCredentialId"] for c in left]
    (deleted,) = [i for i in ids if i != still_there]
    step = "service_specific_credentials"
    # The step's last record: steps 1-9 run side by side, so others may have ended after it.
    intent = [r for r in user_records(user_name, log) if r.step == step][-1]
    assert (intent.step, intent.outcome, set(intent.resources)) == (step, "intent", set(ids))

    with engine_settings(audit_log=str(log), snapshot_store=child_env["OFFBOARD_SNAPSHOT_STORE"]):
        report = run_offboarding(user_name=user_name)

    assert report.outcome == "deleted" and gone(iam, user_name)
    rerun = [
        (r.outcome, r.resources)
        for r in user_records(user_name, log)
        if r.run_id == report.run_id and r.step == step
    ]
    assert rerun == [
        ("done_by_earlier_attempt", (deleted,)),
        ("intent", (still_there,)),
        ("done", (still_there,)),
    ]
    assert verify(log).ok


def test_a_retry_of_the_same_run_whose_user_is_already_deleted_ends_deleted(
    monkeypatch, iam, user_name
):
    """The same flow run retried (what `offboard rerun` does) after DeleteUser was done and
    recorded but the attempt died before finishing: the retry ends deleted, not refused."""
    import flows.offboarding as module

    light_user(iam, user_name)
    crashed: list[str] = []
    publish = module.publish_report

    def die_once(report: Any) -> None:
        if not crashed:
            crashed.append(report.outcome)
            raise RuntimeError("worker lost")
        publish(report)

    monkeypatch.setattr(module, "publish_report", die_once)
    state = offboard_user.with_options(retries=1, retry_delay_seconds=0)(
        user_name=user_name, return_state=True
    )
    report = state.result()
    assert crashed == ["deleted"] and report.outcome == "deleted" and gone(iam, user_name)
    records = audit_records(report.run_id)
    assert ("run", "run.rerun") in [(r.step, r.action) for r in records]
    assert [r.outcome for r in records if r.step == "user"] == ["intent", "done"]
    assert report.snapshot is not None and report.user is not None


# --- a trail that cannot be written ----------------------------------------------------------


@contextmanager
def disk_full_from(predicate: Any) -> Iterator[list[AuditEvent]]:
    """Appends raise ENOSPC from the first event matching ``predicate`` on (the disk stays
    full); the events refused are collected."""
    refused: list[AuditEvent] = []
    original = AuditTrail.append

    def append(self: AuditTrail, event: AuditEvent) -> Any:
        if refused or predicate(event):
            refused.append(event)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(self, event)

    AuditTrail.append = append  # type: ignore[method-assign]
    try:
        yield refused
    finally:
        AuditTrail.append = original  # type: ignore[method-assign]


def after_call_log(sandbox: Any, mark: Any, operation: str) -> list[str]:
    calls = iam_mutations(sandbox.requests.since(mark))
    return calls[calls.index(operation) + 1 :]


def test_disk_full_after_a_delete_stops_deletion_and_deactivates_then_a_rerun_finishes(
    sandbox, iam, user_name
):
    """The certificate's outcome cannot be written: no step starts after it and DeleteUser is
    never sent (steps already running end, each with its intent on disk), the user gets the deny
    policy; the intent on disk lets the rerun record the certificate as done earlier."""
    loaded = create_loaded_user(iam, user_name)
    mark = sandbox.requests.mark()
    step = "signing_certificates"
    with disk_full_from(lambda e: e.step == step and e.outcome != "intent") as refused:
        report = run_offboarding(user_name=user_name)

    assert refused and report.outcome == "deactivated_pending_deletion"
    assert report.failure is not None
    assert report.failure.error_code == "AuditTrailUnwritable"
    assert report.failure.step in STEPS[:-1]
    assert "No space left on device" in report.failure.message
    sent = iam_mutations(sandbox.requests.since(mark))
    assert "DeleteUser" not in sent
    # The deny policy came after the certificate's delete (the keys' step ran beside it).
    assert "PutUserPolicy" in after_call_log(sandbox, mark, "DeleteSigningCertificate")
    assert iam.list_signing_certificates(UserName=user_name)["Certificates"] == []
    assert "offboard-deactivated" in iam.list_user_policies(UserName=user_name)["PolicyNames"]
    assert report.remaining is not None and step not in report.remaining.attachments()
    # Whatever was removed, its step's intent is on disk.
    records = audit_records(report.run_id)
    intended = {r.step for r in records if r.outcome == "intent"}
    removed = {r.step for r in records if r.outcome == "done"}
    assert step in intended and removed <= intended | {"review", "snapshot"}
    assert not [r for r in records if r.step == step and r.outcome != "intent"]

    again = run_offboarding(user_name=user_name)
    assert again.outcome == "deleted" and gone(iam, user_name)
    reconciled = [r for r in audit_records(again.run_id) if r.step == step]
    assert [(r.outcome, r.resources) for r in reconciled] == [
        ("done_by_earlier_attempt", (loaded.signing_certificate_id,)),
        # The step itself then finds nothing left to remove.
        ("skipped", ()),
    ]
    assert verify(default_trail().path).ok


def test_disk_full_before_the_first_step_deletes_nothing_and_deactivates(sandbox, iam, user_name):
    light_user(iam, user_name)
    mark = sandbox.requests.mark()
    with disk_full_from(lambda e: e.step == "review"):
        report = run_offboarding(user_name=user_name)
    assert report.outcome == "deactivated_pending_deletion"
    assert report.failure is not None and report.failure.error_code == "AuditTrailUnwritable"
    assert set(iam_mutations(sandbox.requests.since(mark))) <= {
        "PutUserPolicy",
        "UpdateAccessKey",
        "TagUser",
    }
    assert "offboard-deactivated" in iam.list_user_policies(UserName=user_name)["PolicyNames"]
    keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    assert keys and {k["Status"] for k in keys} == {"Inactive"}


def test_disk_full_and_deactivation_denied_is_one_line_saying_half_offboarded(iam, user_name):
    light_user(iam, user_name)
    with (
        disk_full_from(lambda e: e.step == "signing_certificates" and e.outcome != "intent"),
        inject_client_error("PutUserPolicy", "AccessDenied", 99, 403),
    ):
        result = runner.invoke(app, ["run", user_name, "--yes"])

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if "half-offboarded" in line]
    assert len(lines) == 1, result.output
    (line,) = lines
    assert "No space left on device" in line and "AccessDenied" in line
    # What the steps removed before the trail filled is not named as still there.
    assert "still there: " in line and "signing_certificates" not in line
    iam.get_user(UserName=user_name)
