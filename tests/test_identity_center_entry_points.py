"""The ways in to an Identity Center offboarding, against the sandbox over HTTP: `offboard plan`
and `run` by employee id or by Identity Center user name, email or external id, `offboard
restore` of an Identity Center snapshot, a batch by employee id, and the HR webhook's
termination by employee id. Plans change nothing; protected users are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app
from deploy.hr_events import IDENTITY_CENTER_DEPLOYMENT, TERMINATION_DEPLOYMENT
from deploy.webhook import create_app
from flows.batch_models import BatchSelection
from flows.identity_center import (
    IdcOffboardRequest,
    offboard_identity_center_one,
    run_identity_center_offboarding,
)
from flows.offboard_batch import run_batch
from sandbox.extension import (
    clear_identity_center_state,
    set_external_ids,
)
from sandbox.server import Sandbox
from tests.helpers import audit_records, engine_settings
from tests.test_batch import ACCOUNTS, account_iam, accounts_setting
from tests.test_identity_center_flow import (
    changes,
    fresh_employee,
    iam_exists,
    new_person,
    own_assignments,
    user_exists,
)
from tests.test_webhook import Receiver, RecordingDispatcher, event, settings_for

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")
runner = CliRunner()


@pytest.fixture(autouse=True)
def quick_polls() -> Iterator[None]:
    with engine_settings(identity_center_poll_seconds="0.01", iam_calls_per_second="0"):
        yield
    clear_identity_center_state()


@pytest.fixture
def receiver(sandbox: Sandbox, tmp_path: Any) -> Receiver:
    """The HR webhook receiver, recording the runs it would start."""
    dispatcher = RecordingDispatcher()
    db = tmp_path / "webhook.sqlite3"
    return Receiver(TestClient(create_app(settings_for(db), dispatcher)), dispatcher, db)


def test_plan_by_employee_id_shows_both_kinds_and_changes_nothing(
    sandbox, sso, store, iam, user_name
):
    employee = fresh_employee()
    person = new_person(sso, store, employee_id=employee)
    iam.create_user(UserName=user_name, Tags=[{"Key": "employee_id", "Value": employee}])
    mark = sandbox.requests.mark()

    result = runner.invoke(app, ["plan", "--employee-id", employee, "--json"])

    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    [centre] = plan["identity_center"]
    assert centre["user"]["user_id"] == person.user_id
    assert len(centre["inventory"]["account_assignments"]) == 3
    assert len(centre["inventory"]["group_memberships"]) == 2
    assert [p["user"]["user_name"] for p in plan["iam"]] == [user_name]
    assert changes(sandbox.requests.since(mark)) == []

    nobody = runner.invoke(app, ["plan", "--employee-id", fresh_employee()])
    assert nobody.exit_code == 2
    assert "no IAM user carries the tag" in nobody.stderr


def test_an_hr_termination_by_employee_id_starts_runs_for_both_kinds(
    sso, store, iam, user_name, receiver
):
    employee = fresh_employee()
    person = new_person(sso, store, employee_id=employee, accounts=("111111111111",))
    iam.create_user(UserName=user_name, Tags=[{"Key": "employee_id", "Value": employee}])
    payload = event(employee_id=employee)

    response = receiver.post(payload)

    assert response.status_code == 202, response.text
    runs = {run.deployment: run for run in receiver.dispatcher.runs}
    assert set(runs) == {TERMINATION_DEPLOYMENT, IDENTITY_CENTER_DEPLOYMENT}
    assert runs[TERMINATION_DEPLOYMENT].parameters["user_name"] == user_name
    centre = runs[IDENTITY_CENTER_DEPLOYMENT]
    assert centre.parameters == {
        "value": person.user_id,
        "selector": "user_id",
        "reason": f"HR termination {payload['event_id']}",
        "ticket": payload["event_id"],
    }
    # The parameters are the flow's: the run they start offboards the Identity Center user.
    report = run_identity_center_offboarding(**centre.parameters)
    assert report.outcome == "deleted", report.failure
    assert not user_exists(store, person)
    assert report.ticket == payload["event_id"]


def test_an_hr_termination_of_someone_with_only_an_identity_center_user_is_accepted(
    sso, store, receiver
):
    employee = fresh_employee()
    person = new_person(sso, store, employee_id=employee, accounts=())

    response = receiver.post(event(employee_id=employee))
    nobody = receiver.post(event(employee_id=fresh_employee()))

    assert response.status_code == 202, response.text
    [run] = receiver.dispatcher.runs
    assert (run.deployment, run.parameters["value"]) == (IDENTITY_CENTER_DEPLOYMENT, person.user_id)
    assert nobody.status_code == 404


def test_offboard_restore_puts_an_identity_center_user_back_from_its_snapshot(sso, store):
    person = new_person(sso, store, accounts=("222222222222",))
    report = offboard_identity_center_one(IdcOffboardRequest(value=person.user_name))
    assert report.outcome == "deleted" and report.snapshot is not None

    renamed = runner.invoke(app, ["restore", report.snapshot.location, "--new-name", "other"])
    restored = runner.invoke(app, ["restore", report.snapshot.location, "--reason", "rehired"])
    again = runner.invoke(app, ["restore", report.snapshot.location])

    assert renamed.exit_code == 2 and "Identity Center snapshot" in renamed.stderr
    assert restored.exit_code == 0, restored.output
    assert f"restored Identity Center user {person.user_name}" in restored.stdout
    new_id = store.get_user_id(
        IdentityStoreId=person.identity_store_id,
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": person.user_name}
        },
    )["UserId"]
    assert own_assignments(sso, person.instance_arn, new_id) == set(person.assignments)
    assert again.exit_code == 2 and "exists already" in again.stderr


def test_the_person_plan_table_shows_both_kinds(sso, store, iam, user_name):
    employee = fresh_employee()
    person = new_person(sso, store, employee_id=employee, accounts=("111111111111",))
    iam.create_user(UserName=user_name, Tags=[{"Key": "employee_id", "Value": employee}])

    result = runner.invoke(app, ["plan", "--employee-id", employee])

    assert result.exit_code == 0, result.output
    assert f"Identity Center plan for {person.user_name}" in result.stdout
    assert "session deny" in result.stdout
    assert f"Offboarding plan for arn:aws:iam::123456789012:user/{user_name}" in result.stdout


def test_a_batch_by_employee_id_offboards_the_identity_center_user_too(
    sandbox, sso, store, user_name
):
    employee = fresh_employee()
    person = new_person(sso, store, employee_id=employee, accounts=("333333333333",))
    account = account_iam(sandbox, ACCOUNTS[2])
    account.create_user(UserName=user_name, Tags=[{"Key": "employee_id", "Value": employee}])

    with engine_settings(accounts=accounts_setting(ACCOUNTS[2])):
        planned = run_batch(BatchSelection(employee_id=employee), dry_run=True)
        report = run_batch(BatchSelection(employee_id=employee), reason="left")

    assert [r.outcome for r in planned.identity_center] == ["planned"]
    assert [r.outcome for r in report.identity_center] == ["deleted"]
    assert [u.report.outcome for u in report.users] == ["deleted"]
    assert not user_exists(store, person)
    assert not iam_exists(account, user_name)
    steps = {r.step for r in audit_records(report.run_id) if r.target.user_id == person.user_id}
    assert {"account_assignments", "group_memberships", "user", "session_deny"} <= steps


def test_plan_and_run_by_employee_id_refuse_a_protected_identity_center_user(sandbox, sso, store):
    employee = fresh_employee()
    person = new_person(sso, store, employee_id=employee, accounts=("111111111111",))
    mark = sandbox.requests.mark()

    with engine_settings(
        protected_identity_center_groups=json.dumps([f"{person.user_name}-group-1"])
    ):
        plan = runner.invoke(app, ["plan", "--employee-id", employee])
        run = runner.invoke(app, ["run", "--employee-id", employee, "--yes", "--json"])

    assert plan.exit_code == 2
    assert f"Identity Center user {person.user_name} is protected" in plan.stderr
    assert "protected group" in plan.stderr
    assert run.exit_code == 2, run.output
    [refused] = json.loads(run.stdout)["identity_center"]
    assert (refused["outcome"], refused["failure"]["kind"]) == ("refused", "protected")
    assert changes(sandbox.requests.since(mark)) == []
    assert user_exists(store, person)


def test_plan_and_run_by_identity_center_user_name_email_or_external_id(sandbox, sso, store):
    by_email = new_person(sso, store, accounts=("111111111111",))
    by_external = new_person(sso, store, accounts=())
    set_external_ids(by_external.user_id, [("https://idp.example.com", "ext-9")])
    mark = sandbox.requests.mark()

    plan = runner.invoke(
        app, ["plan", "--identity-center-user", f"{by_email.user_name}@example.com", "--json"]
    )
    unknown = runner.invoke(app, ["plan", "--identity-center-user", "nobody@example.com"])
    assert changes(sandbox.requests.since(mark)) == []
    both = runner.invoke(app, ["run", "x", "--identity-center-user", "y", "--yes"])
    by_name = runner.invoke(
        app, ["run", "--identity-center-user", by_email.user_name, "--yes", "--json"]
    )
    external = runner.invoke(
        app, ["run", "--identity-center-user", "https://idp.example.com#ext-9", "--yes"]
    )

    assert plan.exit_code == 0, plan.output
    assert json.loads(plan.stdout)["user"]["user_id"] == by_email.user_id
    assert unknown.exit_code == 2 and "no Identity Center user nobody@example.com" in unknown.stderr
    assert both.exit_code == 2
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.stdout)["outcome"] == "deleted"
    assert external.exit_code == 0, external.output
    assert not user_exists(store, by_email) and not user_exists(store, by_external)
