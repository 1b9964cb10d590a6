"""An access review IAM will not answer holds the user as "review incomplete" (deactivated,
nothing deleted) instead of crashing the run — against the sandbox, flows under Prefect."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import get_settings
from flows.offboard_user import run_offboarding
from sandbox.fixtures import create_loaded_user
from tasks.deactivation import DENY_POLICY_NAME
from tests.helpers import audit_records, inject_client_error

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")
runner = CliRunner()
REVIEW_CALLS = (
    "GenerateServiceLastAccessedDetails",
    "GetServiceLastAccessedDetails",
    "GetAccessKeyLastUsed",
)


def assert_held_and_deactivated(iam, user_name: str, report, code: str) -> None:
    assert report.outcome == "deactivated_pending_deletion"
    assert report.failure and report.failure.step == "guard"
    assert report.failure.error_code == "ReviewIncomplete"
    assert code in report.failure.message
    assert report.review is not None and not report.review.complete
    # Held, not deleted: the user and its key are there, denied everything and switched off.
    iam.get_user(UserName=user_name)
    assert DENY_POLICY_NAME in iam.list_user_policies(UserName=user_name)["PolicyNames"]
    keys = iam.list_access_keys(UserName=user_name)["AccessKeyMetadata"]
    assert keys and {k["Status"] for k in keys} == {"Inactive"}
    records = [(r.step, r.outcome) for r in audit_records(report.run_id)]
    assert ("review", "failed") in records and ("guard", "held") in records
    assert not any(r.outcome == "done" and r.step == "user" for r in audit_records(report.run_id))


@pytest.mark.parametrize("operation", REVIEW_CALLS)
def test_throttling_beyond_the_retries_holds_the_user_as_review_incomplete(
    iam, user_name, operation
):
    create_loaded_user(iam, user_name, access_keys=1)
    with inject_client_error(operation, "Throttling", 99) as injected:
        report = run_offboarding(user_name=user_name)
    # Every declared retry was spent before giving up.
    assert injected.calls == get_settings().step_retries + 1
    assert_held_and_deactivated(iam, user_name, report, "Throttling")
    assert f"iam:{operation}" in report.failure.message


def test_an_error_no_retry_can_fix_holds_at_once(iam, user_name):
    create_loaded_user(iam, user_name, access_keys=1)
    with inject_client_error("GetAccessKeyLastUsed", "AccessDenied", 99, 403) as injected:
        report = run_offboarding(user_name=user_name)
    assert injected.calls == 1
    assert_held_and_deactivated(iam, user_name, report, "AccessDenied")


def test_throttling_the_retries_absorb_still_deletes(iam, user_name):
    create_loaded_user(iam, user_name, access_keys=1)
    with inject_client_error("GetServiceLastAccessedDetails", "Throttling", 2) as injected:
        report = run_offboarding(user_name=user_name)
    assert injected.faulted == 2
    assert report.outcome == "deleted" and report.review and report.review.complete


def test_cli_run_exits_3_saying_why_and_what_next_when_the_review_is_throttled(iam, user_name):
    create_loaded_user(iam, user_name, access_keys=1)
    with inject_client_error("GenerateServiceLastAccessedDetails", "Throttling", 99):
        result = runner.invoke(app, ["run", user_name, "--yes"])
    assert result.exit_code == 3, result.output
    held = [line for line in result.stderr.splitlines() if line.startswith("offboard:")]
    # One line for the hold and its reason, one for what was done, then the next command.
    assert len(held) == 2 and "held by the activity guard" in held[0]
    assert "Throttling" in held[0] and "Traceback" not in result.output
    assert "deactivated" in held[1]
    assert f"offboard run {user_name} --override-activity-guard --reason" in result.stderr
    iam.get_user(UserName=user_name)
