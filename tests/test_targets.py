"""Resolving employee ids, tags, groups and user names to the IAM users they name, against the
sandbox: several accounts, tag keys in any case, unknown people answered clearly, reads only."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from deploy.webhook import create_app, sign
from flows.batch_models import BatchSelection, BatchTarget
from flows.batch_plan import plan_batch
from flows.leave_sync import sync_leave_deactivations
from flows.targets import IamTarget, NoTargetError, named_person, people, select
from tasks.aws import get_client_factory
from tasks.deactivation import iam_time
from tests.helpers import engine_settings, iam_mutations
from tests.test_batch import ACCOUNTS, account_iam, accounts_setting, error_response
from tests.test_webhook import SECRET, RecordingDispatcher, settings_for

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")


def fresh_employee() -> str:
    return f"E-{uuid.uuid4().hex[:10]}"


def test_an_employees_users_in_every_account_whatever_the_tag_keys_case(sandbox, user_name):
    employee = fresh_employee()
    clients = {account: account_iam(sandbox, account) for account in ACCOUNTS}
    # IAM keeps one tag per key whatever its case, so each spelling is the employee tag.
    clients[ACCOUNTS[0]].create_user(
        UserName=f"{user_name}-a", Tags=[{"Key": "employee_id", "Value": employee}]
    )
    clients[ACCOUNTS[1]].create_user(
        UserName=f"{user_name}-b", Tags=[{"Key": "Employee_ID", "Value": employee}]
    )
    clients[ACCOUNTS[1]].create_user(
        UserName=f"{user_name}-c", Tags=[{"Key": "EMPLOYEE_ID", "Value": employee}]
    )
    # Values are matched exactly: another id, or the same id in another case, is someone else.
    clients[ACCOUNTS[2]].create_user(
        UserName=f"{user_name}-x", Tags=[{"Key": "employee_id", "Value": employee.lower()}]
    )
    clients[ACCOUNTS[2]].create_user(
        UserName=f"{user_name}-y", Tags=[{"Key": "employee_id", "Value": f"{employee}-other"}]
    )
    mark = sandbox.requests.mark()

    with engine_settings(accounts=accounts_setting(*ACCOUNTS)):
        person = people([employee], every_account=True)[employee]

    assert person.employee_id == employee
    assert set(person.iam_users) == {
        IamTarget(account_id=ACCOUNTS[0], user_name=f"{user_name}-a"),
        IamTarget(account_id=ACCOUNTS[1], user_name=f"{user_name}-b"),
        IamTarget(account_id=ACCOUNTS[1], user_name=f"{user_name}-c"),
    }
    assert person.account_failures == ()
    assert sorted(person.by_account()[ACCOUNTS[1]]) == [f"{user_name}-b", f"{user_name}-c"]
    assert iam_mutations(sandbox.requests.since(mark)) == []


def test_several_employees_at_once_and_an_unknown_one_has_no_users(iam, user_name):
    known, unknown = fresh_employee(), fresh_employee()
    iam.create_user(UserName=user_name, Tags=[{"Key": "Employee_Id", "Value": known}])

    found = people([known, unknown, known])

    assert sorted(found) == sorted([known, unknown])
    assert found[known].user_names() == (user_name,)
    assert found[known].iam_users[0].account_id is None
    assert found[unknown].iam_users == ()


def test_tag_group_and_listed_names_select_each_user_once(iam, user_name):
    tagged = [f"{user_name}-t{i}" for i in range(2)]
    iam.create_user(UserName=tagged[0], Tags=[{"Key": "team", "Value": user_name}])
    iam.create_user(UserName=tagged[1], Tags=[{"Key": "TEAM", "Value": user_name}])
    iam.create_user(UserName=f"{user_name}-o", Tags=[{"Key": "team", "Value": user_name.upper()}])
    group = f"{user_name}-grp"
    iam.create_group(GroupName=group)
    for name in tagged:
        iam.add_user_to_group(GroupName=group, UserName=name)

    by_tag = select(BatchSelection(tag=f"Team={user_name}"))
    by_group = select(BatchSelection(group=group))
    # IAM user names are unique regardless of case: the second spelling is the same user.
    by_name = select(
        BatchSelection(
            users=(
                BatchTarget(user_name=tagged[1]),
                BatchTarget(user_name=tagged[0]),
                BatchTarget(user_name=tagged[1].upper()),
                BatchTarget(user_name=tagged[0], account_id=ACCOUNTS[0]),
            )
        )
    )

    assert sorted(by_tag.user_names()) == tagged
    assert sorted(by_group.user_names()) == tagged
    assert by_name.by_account() == {None: [tagged[1], tagged[0]], ACCOUNTS[0]: [tagged[0]]}


def test_a_batch_plans_an_employees_users_and_reports_an_unreachable_account(sandbox, user_name):
    employee = fresh_employee()
    reachable = account_iam(sandbox, ACCOUNTS[0])
    reachable.create_user(UserName=user_name, Tags=[{"Key": "employee_id", "Value": employee}])
    settings = json.dumps([{"id": ACCOUNTS[0]}, {"id": "444444444444", "role_name": "Missing"}])
    sts = get_client_factory().client("sts")

    def deny(params: dict[str, Any], **_: Any) -> Any:
        if "444444444444" in str(params.get("body", {}).get("RoleArn")):
            return error_response("AccessDenied", 403)
        return None

    sts.meta.events.register("before-call.sts.AssumeRole", deny, "test-targets-deny")
    try:
        with engine_settings(accounts=settings):
            plan = plan_batch(BatchSelection(employee_id=employee))
            nobody = plan_batch(BatchSelection(employee_id=fresh_employee()))
    finally:
        sts.meta.events.unregister("before-call.sts.AssumeRole", unique_id="test-targets-deny")

    assert [(p.account_id, p.user.user_name) for p in plan.users] == [(ACCOUNTS[0], user_name)]
    assert [(f.account_id, f.error_code) for f in plan.account_failures] == [
        ("444444444444", "AccessDenied")
    ]
    assert nobody.users == () and nobody.skipped == ()


def test_a_named_user_and_an_unknown_one_or_an_id_it_does_not_carry(iam, user_name):
    employee = fresh_employee()
    iam.create_user(UserName=user_name, Tags=[{"Key": "EMPLOYEE_ID", "Value": employee}])
    missing = f"{user_name}-gone"
    nobody = fresh_employee()

    assert named_person(user_name, employee).user_names() == (user_name,)
    assert named_person(None, employee).user_names() == (user_name,)
    with pytest.raises(NoTargetError, match=f"^no IAM user named {missing}$"):
        named_person(missing, None)
    with pytest.raises(NoTargetError, match=f"no IAM user named {user_name} with tag .*{nobody}"):
        named_person(user_name, nobody)
    with pytest.raises(NoTargetError, match=f"^no IAM user carries the tag employee_id={nobody}$"):
        named_person(None, nobody)


def test_the_webhook_and_leave_sync_find_a_user_tagged_with_the_key_in_another_case(
    sandbox, iam, user_name, tmp_path
):
    employee = fresh_employee()
    iam.create_user(UserName=user_name, Tags=[{"Key": "Employee_ID", "Value": employee}])
    dispatcher = RecordingDispatcher()
    client = TestClient(create_app(settings_for(tmp_path / "webhook.sqlite3"), dispatcher))
    body = json.dumps(
        {
            "event_id": f"hr-{uuid.uuid4().hex[:12]}",
            "type": "termination",
            "effective_at": "2030-01-02T09:00:00Z",
            "employee_id": employee,
        }
    ).encode()
    headers = {"Content-Type": "application/json", **sign(SECRET, body)}

    accepted = client.post("/hr/events", content=body, headers=headers)

    assert accepted.status_code == 202, accepted.text
    assert [run.parameters["user_name"] for run in dispatcher.runs] == [user_name]

    now = datetime.now(UTC).replace(microsecond=0)
    calendar = Path(tmp_path / "leave.yaml")
    window = {"start": iam_time(now + timedelta(days=1)), "end": iam_time(now + timedelta(days=2))}
    calendar.write_text(
        yaml.safe_dump(
            {"leave": [{"employee_id": employee, **window}, {"employee_id": "E-nobody", **window}]}
        )
    )
    report = sync_leave_deactivations(calendar=str(calendar))

    assert [change.user_name for change in report.users] == [user_name]
    assert [(s.entry, s.problem) for s in report.skipped] == [
        ("employee E-nobody", "no IAM user with that employee id")
    ]
