"""Deactivation: the seed's deny documents, exact reactivation, the offboarding fallback, leave."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.deactivation import deactivate_user, reactivate_user
from flows.leave_sync import sync_leave_deactivations
from flows.offboard_user import run_offboarding
from sandbox.fixtures import create_loaded_user
from tasks.deactivation import (
    DENY_POLICY_NAME,
    DenyWindow,
    deny_document,
    iam_time,
    put_deny_policy,
)
from tests.helpers import audit_records, iam_mutations, inject_client_error
from tests.test_procedure import SEED

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")
runner = CliRunner()


def seed_deny_examples() -> list[dict]:
    text = SEED.read_text().split("Deactivating an IAM user", 1)[1]
    return [json.loads(m) for m in re.findall(r"^(\{ \"Version\".*\})\s*$", text, re.MULTILINE)]


def test_deny_documents_are_the_seeds_examples():
    untimed, timed = seed_deny_examples()
    assert deny_document() == untimed
    window = DenyWindow(
        start=datetime(2024, 12, 24, 23, 59, 59, tzinfo=UTC),
        end=datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC),
    )
    assert deny_document(window) == timed
    # Another zone is converted to UTC in the document.
    shifted = DenyWindow(
        start=datetime.fromisoformat("2024-12-25T00:59:59+01:00"),
        end=datetime.fromisoformat("2025-03-01T00:59:59+01:00"),
    )
    assert deny_document(shifted) == timed


def policy(iam, user_name: str, name: str = DENY_POLICY_NAME) -> dict:
    return iam.get_user_policy(UserName=user_name, PolicyName=name)["PolicyDocument"]


def test_cli_deactivate_untimed_and_timed(sandbox, iam, user_name):
    create_loaded_user(iam, user_name)
    result = runner.invoke(app, ["deactivate", user_name, "--reason", "leave"])
    assert result.exit_code == 0, result.output
    assert policy(iam, user_name) == deny_document()
    result = runner.invoke(
        app,
        [
            "deactivate",
            user_name,
            "--from",
            "2030-01-01T00:00:00Z",
            "--until",
            "2030-02-01T12:00:00+02:00",
        ],
    )
    assert result.exit_code == 0, result.output
    document = policy(iam, user_name)
    assert document["Statement"][0]["Condition"] == {
        "DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
        "DateLessThan": {"aws:CurrentTime": "2030-02-01T10:00:00Z"},
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "2030-01-01T00:00:00"], "has no time zone"),
        (["--until", "2030-01-01"], "has no time zone"),
        (["--from", "2030-02-01T00:00:00Z", "--until", "2030-01-01T00:00:00Z"], "is not after"),
        (["--from", "next tuesday"], "not an ISO 8601 timestamp"),
        # A deny that would never apply, yet would report "done".
        (["--until", "2020-01-01T00:00:00Z"], "the window ended at 2020-01-01T00:00:00Z"),
        (["--from", "2019-01-01T00:00:00Z", "--until", "2020-01-01T00:00:00Z"], "ended at"),
        # Empty text is not "no bound": the deny would become unconditional.
        (["--from", "", "--until", ""], "--from is empty"),
        (["--until", " "], "--until is empty"),
        # IAM compares whole seconds: the deny might never match.
        (
            ["--from", "2030-01-01T00:00:00.100Z", "--until", "2030-01-01T00:00:00.900Z"],
            "shorter than one second",
        ),
    ],
)
def test_bad_windows_exit_2_with_no_mutating_call(sandbox, iam, user_name, args, message):
    create_loaded_user(iam, user_name)
    mark = sandbox.requests.mark()
    result = runner.invoke(app, ["deactivate", user_name, *args])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert sandbox.requests.since(mark) == []


def test_the_flow_refuses_an_ended_window_and_its_model_an_empty_or_sub_second_one(
    sandbox, iam, user_name
):
    """A deployment run (the HR webhook's leave) gets the same rules as the command line."""
    from prefect.exceptions import ParameterTypeError

    from tasks.errors import InvalidInputError

    create_loaded_user(iam, user_name)
    mark = sandbox.requests.mark()
    now = datetime.now(UTC)
    with pytest.raises(InvalidInputError, match="would never apply"):
        deactivate_user(user_name=user_name, window=DenyWindow(end=now - timedelta(seconds=1)))
    for window in (
        {"start": None, "end": None},
        {"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T00:00:00.5Z"},
    ):
        with pytest.raises(ParameterTypeError):
            deactivate_user(user_name=user_name, window=window)
    with pytest.raises(ValueError, match="needs a start or an end"):
        DenyWindow()
    assert iam_mutations(sandbox.requests.since(mark)) == []
    assert DENY_POLICY_NAME not in iam.list_user_policies(UserName=user_name)["PolicyNames"]
    # A window of a whole second, still ahead, is fine.
    ahead = DenyWindow(start=now + timedelta(days=1), end=now + timedelta(days=1, seconds=1))
    assert deactivate_user(user_name=user_name, window=ahead).outcome == "done"


def test_reactivation_restores_exactly_the_prior_key_states(sandbox, iam, user_name):
    loaded = create_loaded_user(iam, user_name, access_keys=2)
    was_inactive, was_active = loaded.access_key_ids
    iam.update_access_key(UserName=user_name, AccessKeyId=was_inactive, Status="Inactive")

    first = deactivate_user(user_name=user_name, disable_keys=True, reason="leave")
    again = deactivate_user(user_name=user_name, disable_keys=True, reason="leave")
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    }
    assert statuses == {was_inactive: "Inactive", was_active: "Inactive"}
    assert [k.access_key_id for c in first.changes for k in c.keys_changed] == [was_active]
    assert not any(c.changed for c in again.changes)
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user_name)["Tags"]}
    assert tags["offboard:disabled-keys"] == was_active

    back = reactivate_user(user_name=user_name)
    back_again = reactivate_user(user_name=user_name)
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    }
    assert statuses == {was_inactive: "Inactive", was_active: "Active"}
    assert DENY_POLICY_NAME not in iam.list_user_policies(UserName=user_name)["PolicyNames"]
    assert back.outcome == "done" and not any(c.changed for c in back_again.changes)
    assert "offboard:disabled-keys" not in {
        t["Key"] for t in iam.list_user_tags(UserName=user_name)["Tags"]
    }
    steps = [(r.flow, r.step, r.outcome) for r in audit_records(back.run_id)]
    assert ("reactivate-user", "reactivate_keys", "done") in steps


def test_deactivating_a_protected_user_is_refused(sandbox, iam, user_name):
    create_loaded_user(iam, user_name, tags={"offboard:protected": "true"})
    mark = sandbox.requests.mark()
    result = runner.invoke(app, ["deactivate", user_name])
    assert result.exit_code == 2 and "protected" in result.stderr
    assert iam_mutations(sandbox.requests.since(mark)) == []


def test_fallback_deactivates_when_a_step_fails_and_a_rerun_deletes(sandbox, iam, user_name):
    loaded = create_loaded_user(iam, user_name)
    with inject_client_error("DeleteUserPolicy", "AccessDenied", 99, 403):
        failed = run_offboarding(user_name=user_name)
    assert failed.outcome == "deactivated_pending_deletion"
    assert failed.failure and failed.failure.step == "inline_policies"
    assert failed.failure.action == "iam:DeleteUserPolicy"
    assert policy(iam, user_name) == deny_document()
    records = audit_records(failed.run_id)
    assert ("inline_policies", "failed") in [(r.step, r.outcome) for r in records]
    assert [r.step for r in records][-2:] == ["deny_policy", "disable_keys"]

    result = runner.invoke(app, ["run", user_name, "--yes"])
    assert result.exit_code == 0, result.output
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user_name)
    # Shared resources stay; the deny policy went with the user.
    assert iam.get_group(GroupName=loaded.group_names[0])["Users"] == []


def test_failed_step_exits_1_with_the_fallback_message(sandbox, iam, user_name):
    create_loaded_user(iam, user_name)
    with inject_client_error("DetachUserPolicy", "AccessDenied", 99, 403):
        result = runner.invoke(app, ["run", user_name, "--yes"])
    assert result.exit_code == 1
    assert "deactivated pending deletion" in result.stderr


def write_calendar(path: Path, entries: list[dict]) -> str:
    import yaml

    path.write_text(yaml.safe_dump({"leave": entries}))
    return str(path)


def test_leave_sync_upcoming_current_ended_overlapping_and_invalid(
    sandbox, iam, user_name, tmp_path
):
    now = datetime.now(UTC).replace(microsecond=0)
    names = {kind: f"{user_name[:48]}-{kind}" for kind in ("up", "cur", "end", "ovl", "emp")}
    for name in names.values():
        iam.create_user(UserName=name)
    iam.tag_user(
        UserName=names["emp"], Tags=[{"Key": "employee_id", "Value": f"E-{user_name[-8:]}"}]
    )
    ended = DenyWindow(start=now - timedelta(days=10), end=now - timedelta(days=3))
    # A policy a previous sync left for a window that has since ended.
    iam.put_user_policy(
        UserName=names["end"],
        PolicyName=ended.policy_name(),
        PolicyDocument=json.dumps(deny_document(ended)),
    )
    day = timedelta(days=1)
    stamp = iam_time
    calendar = write_calendar(
        tmp_path / "leave.yaml",
        [
            {"user": names["up"], "start": stamp(now + 5 * day), "end": stamp(now + 9 * day)},
            {
                "user": names["cur"],
                "start": stamp(now - day),
                "end": stamp(now + day),
                "reason": "flu",
            },
            {"user": names["end"], "start": stamp(ended.start), "end": stamp(ended.end)},
            {"user": names["ovl"], "start": stamp(now + day), "end": stamp(now + 4 * day)},
            {"user": names["ovl"], "start": stamp(now + 3 * day), "end": stamp(now + 6 * day)},
            {"employee_id": f"E-{user_name[-8:]}", "start": stamp(now), "end": stamp(now + day)},
            {"user": names["up"], "start": stamp(now + 9 * day), "end": stamp(now + 2 * day)},
            {"user": names["up"], "start": "2030-01-01T00:00:00", "end": "2030-01-02T00:00:00"},
            {"user": f"{user_name[:40]}-nobody", "start": stamp(now), "end": stamp(now + day)},
            {"employee_id": "E-unknown", "start": stamp(now), "end": stamp(now + day)},
        ],
    )
    report = sync_leave_deactivations(calendar=calendar)

    def leave_policies(name: str) -> dict[str, dict]:
        return {
            p: policy(iam, name, p)
            for p in iam.list_user_policies(UserName=name)["PolicyNames"]
            if p.startswith("offboard-leave-")
        }

    up = leave_policies(names["up"])
    assert list(up.values()) == [deny_document(DenyWindow(start=now + 5 * day, end=now + 9 * day))]
    assert len(leave_policies(names["cur"])) == 1
    assert leave_policies(names["end"]) == {}
    merged = DenyWindow(start=now + day, end=now + 6 * day)
    assert leave_policies(names["ovl"]) == {merged.policy_name(): deny_document(merged)}
    assert len(leave_policies(names["emp"])) == 1
    problems = " | ".join(f"{s.entry}: {s.problem}" for s in report.skipped)
    assert len(report.skipped) == 4, problems
    assert "is not after start" in problems and "timezone" in problems.lower()
    assert "no IAM user named" in problems and "E-unknown" in problems

    mark = sandbox.requests.mark()
    second = sync_leave_deactivations(calendar=calendar)
    assert second.writes == 0
    assert iam_mutations(sandbox.requests.since(mark)) == []


def test_leave_sync_keeps_a_policy_someone_modified(sandbox, iam, user_name, tmp_path):
    now = datetime.now(UTC).replace(microsecond=0)
    iam.create_user(UserName=user_name)
    ended = DenyWindow(start=now - timedelta(days=5), end=now - timedelta(days=1))
    edited = deny_document(ended) | {"Id": "edited-by-hand"}
    iam.put_user_policy(
        UserName=user_name, PolicyName=ended.policy_name(), PolicyDocument=json.dumps(edited)
    )
    calendar = write_calendar(
        tmp_path / "leave.yaml",
        [{"user": user_name, "start": iam_time(ended.start), "end": iam_time(ended.end)}],
    )
    sync_leave_deactivations(calendar=calendar)
    assert ended.policy_name() in iam.list_user_policies(UserName=user_name)["PolicyNames"]


def test_leave_cli_missing_calendar_exits_2(sandbox, tmp_path):
    result = runner.invoke(app, ["leave", "sync", "--calendar", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2 and "cannot read leave calendar" in result.stderr


def own_client(sandbox, key: dict):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "iam",
        endpoint_url=sandbox.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"total_max_attempts": 1}),
    )


def allowed(client) -> bool:
    from botocore.exceptions import ClientError

    from sandbox.auth import enforce_iam_authorization

    with enforce_iam_authorization():
        try:
            client.list_users(MaxItems=1)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "AccessDenied"
            return False
    return True


def test_under_enforcement_a_deactivated_user_is_refused_until_reactivated(sandbox, iam, user_name):
    iam.create_user(UserName=user_name)
    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=user_name, PolicyName="may-list", PolicyDocument=json.dumps(allow))
    client = own_client(sandbox, iam.create_access_key(UserName=user_name)["AccessKey"])
    assert allowed(client)

    assert deactivate_user(user_name=user_name).outcome == "done"
    assert not allowed(client)
    assert reactivate_user(user_name=user_name).outcome == "done"
    assert allowed(client)


@pytest.mark.parametrize(
    "offsets, blocks",
    [((2, 5), False), ((-1, 1), True), ((-5, -2), False)],
    ids=["future-window", "current-window", "ended-window"],
)
def test_under_enforcement_a_timed_deny_blocks_only_inside_its_window(
    sandbox, iam, user_name, offsets, blocks
):
    iam.create_user(UserName=user_name)
    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=user_name, PolicyName="may-list", PolicyDocument=json.dumps(allow))
    client = own_client(sandbox, iam.create_access_key(UserName=user_name)["AccessKey"])
    now = datetime.now(UTC)
    window = DenyWindow(
        start=now + timedelta(days=offsets[0]), end=now + timedelta(days=offsets[1])
    )
    # The policy as the engine writes it (the flow refuses to start an ended window; a leave
    # policy stays on after its window ended until the next sync removes it).
    assert put_deny_policy.fn(user_name, window).changed
    assert allowed(client) is not blocks
