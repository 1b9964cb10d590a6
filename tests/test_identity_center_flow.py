"""Offboarding a person's Identity Center user and IAM users, against the sandbox over HTTP:
one `offboard run --employee-id E --yes` removes all of it (groups and permission sets stay),
the audit trail holds every step, the permission sets deny the departed user's id, and the
snapshot restores the user with its memberships and assignments. A FAILED assignment deletion
is retried, then reported, and the session deny stays for good; protected users are refused;
plans and dry runs change nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from cli.main import app
from flows.identity_center import (
    IdcOffboardRequest,
    offboard_identity_center_one,
)
from flows.identity_center_prune import prune_identity_center_denies
from flows.identity_center_restore import restore_identity_center
from sandbox.extension import (
    clear_identity_center_state,
    fail_next_assignment_deletions,
)
from sandbox.identity_center_fixtures import IdentityCenterPerson, create_identity_center_person
from tasks.identity_center.session_deny import deny_statement
from tests.helpers import audit_records, engine_settings
from tests.test_batch import ACCOUNTS, account_iam, accounts_setting

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")
runner = CliRunner()


@pytest.fixture(autouse=True)
def quick_polls() -> Iterator[None]:
    with engine_settings(identity_center_poll_seconds="0.01", iam_calls_per_second="0"):
        yield
    clear_identity_center_state()


def changes(calls: list[Any]) -> list[str]:
    """Mutating calls of any service (Describe... only reads, as Get and List do)."""
    reads = ("Get", "List", "Describe", "Generate", "Simulate")
    return [c.action for c in calls if c.action and not c.action.startswith(reads)]


def fresh_employee() -> str:
    return f"E-{uuid.uuid4().hex[:10]}"


def new_person(sso: Any, store: Any, **options: Any) -> IdentityCenterPerson:
    return create_identity_center_person(sso, store, f"idc.{uuid.uuid4().hex[:10]}", **options)


def user_exists(store: Any, person: IdentityCenterPerson) -> bool:
    try:
        store.describe_user(IdentityStoreId=person.identity_store_id, UserId=person.user_id)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    return True


def own_assignments(sso: Any, instance_arn: str, user_id: str) -> set[tuple[str, str]]:
    found = sso.list_account_assignments_for_principal(
        InstanceArn=instance_arn, PrincipalId=user_id, PrincipalType="USER"
    )["AccountAssignments"]
    return {(a["AccountId"], a["PermissionSetArn"]) for a in found}


def denies(sso: Any, person: IdentityCenterPerson, arn: str) -> list[dict[str, Any]]:
    text = sso.get_inline_policy_for_permission_set(
        InstanceArn=person.instance_arn, PermissionSetArn=arn
    )["InlinePolicy"]
    return [s for s in json.loads(text)["Statement"] if s["Effect"] == "Deny"]


def iam_exists(client: Any, name: str) -> bool:
    try:
        client.get_user(UserName=name)
    except ClientError:
        return False
    return True


def test_one_run_by_employee_id_offboards_the_identity_center_user_and_iam_users_everywhere(
    sandbox, sso, store, user_name
):
    employee = fresh_employee()
    person = new_person(sso, store, employee_id=employee)
    assert (len(person.group_ids), len(person.assignments)) == (2, 3)
    clients = {account: account_iam(sandbox, account) for account in ACCOUNTS[:2]}
    iam_names = {ACCOUNTS[0]: f"{user_name}-a", ACCOUNTS[1]: f"{user_name}-b"}
    for account, name in iam_names.items():
        clients[account].create_user(
            UserName=name, Tags=[{"Key": "employee_id", "Value": employee}]
        )
        clients[account].create_access_key(UserName=name)

    with engine_settings(accounts=accounts_setting(*ACCOUNTS[:2])):
        result = runner.invoke(app, ["run", "--employee-id", employee, "--yes", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["outcome"] for r in report["identity_center"]] == ["deleted"]
    assert sorted(r["outcome"] for r in report["iam"]) == ["deleted", "deleted"]
    # Everything of the person is gone ...
    assert not user_exists(store, person)
    assert own_assignments(sso, person.instance_arn, person.user_id) == set()
    for group_id in person.group_ids:
        members = store.list_group_memberships(
            IdentityStoreId=person.identity_store_id, GroupId=group_id
        )["GroupMemberships"]
        assert members == []
        # ... the groups survive,
        store.describe_group(IdentityStoreId=person.identity_store_id, GroupId=group_id)
    assert not any(iam_exists(clients[a], n) for a, n in iam_names.items())
    # ... and the permission sets too, each denying the departed user's id.
    for arn in person.permission_set_arns:
        sso.describe_permission_set(InstanceArn=person.instance_arn, PermissionSetArn=arn)
        [deny] = denies(sso, person, arn)
        assert deny["Condition"] == {"StringEquals": {"identitystore:UserId": person.user_id}}

    # The audit trail holds every step of both kinds.
    records = audit_records(report["identity_center"][0]["run_id"])
    centre = [(r.step, r.action, r.outcome) for r in records if r.target.user_id == person.user_id]
    assert centre == [
        ("snapshot", "snapshot.write", "done"),
        ("session_deny", "sso:PutInlinePolicyToPermissionSet", "done"),
        ("account_assignments", "sso:DeleteAccountAssignment", "done"),
        ("group_memberships", "identitystore:DeleteGroupMembership", "done"),
        ("user", "identitystore:DeleteUser", "done"),
    ]
    by_step = {r.step: r for r in records if r.target.user_id == person.user_id}
    assert len(by_step["account_assignments"].resources) == 3
    assert len(by_step["group_memberships"].resources) == 2
    for name in iam_names.values():
        steps = {r.step for r in records if r.target.user_name == name and r.outcome == "done"}
        assert {"access_keys", "user"} <= steps, name

    # The snapshot puts the Identity Center user back with its memberships and assignments.
    location = report["identity_center"][0]["snapshot"]["location"]
    restored = restore_identity_center(location, reason="rehired")
    assert restored.outcome == "restored", restored.failure
    assert restored.restored is not None
    new_id = restored.restored.user_id
    found = store.describe_user(IdentityStoreId=person.identity_store_id, UserId=new_id)
    assert found["UserName"] == person.user_name
    memberships = store.list_group_memberships_for_member(
        IdentityStoreId=person.identity_store_id, MemberId={"UserId": new_id}
    )["GroupMemberships"]
    assert {m["GroupId"] for m in memberships} == set(person.group_ids)
    assert own_assignments(sso, person.instance_arn, new_id) == set(person.assignments)
    again = restore_identity_center(location)
    assert (again.outcome, again.failure and again.failure.error_code) == (
        "refused",
        "ConflictException",
    )


def test_a_failed_assignment_deletion_is_retried_then_reported_and_the_deny_stays(sso, store):
    person = new_person(sso, store, accounts=("111111111111",))
    fail_next_assignment_deletions(50, "the target account refused")

    report = offboard_identity_center_one(IdcOffboardRequest(value=person.user_name))

    assert report.outcome == "deactivated_pending_deletion"
    assert report.failure is not None
    assert (report.failure.step, report.failure.error_code, report.failure.action) == (
        "account_assignments",
        "FAILED",
        "sso:DeleteAccountAssignment",
    )
    assert "the target account refused" in report.failure.message
    assert user_exists(store, person)
    assert report.remaining is not None and len(report.remaining.account_assignments) == 1
    # The deny stays for good: no time to prune it after.
    [deny] = denies(sso, person, person.permission_set_arns[0])
    assert "Until" not in deny["Sid"]
    records = [
        (r.step, r.outcome)
        for r in audit_records(report.run_id)
        if r.target.user_id == person.user_id
    ]
    assert ("account_assignments", "failed") in records
    assert records[-1] == ("deactivate", "done")

    clear_identity_center_state()
    rerun = offboard_identity_center_one(IdcOffboardRequest(value=person.user_name))
    assert rerun.outcome == "deleted", rerun.failure
    assert not user_exists(store, person)
    # The user is gone: the deny for good now ends with the longest session, to be pruned.
    [deny] = denies(sso, person, person.permission_set_arns[0])
    assert "Until" in deny["Sid"]


@pytest.mark.parametrize("rule", ["user_name", "group", "attribute"])
def test_a_protected_identity_center_user_is_refused_without_a_mutating_call(
    sandbox, sso, store, rule
):
    person = new_person(sso, store, title="break-glass", accounts=("111111111111",))
    settings = {
        "user_name": {"protected_identity_center_users": json.dumps([person.user_name.upper()])},
        "group": {"protected_identity_center_groups": json.dumps([f"{person.user_name}-group-2"])},
        "attribute": {"protected_identity_center_attribute": "Title=Break-Glass"},
    }[rule]
    mark = sandbox.requests.mark()

    with engine_settings(**settings):
        report = offboard_identity_center_one(IdcOffboardRequest(value=person.user_name))

    assert report.outcome == "refused"
    assert report.failure is not None and report.failure.kind == "protected"
    assert changes(sandbox.requests.since(mark)) == []
    assert user_exists(store, person)


def test_a_dry_run_changes_nothing_and_an_unknown_user_is_refused(sandbox, sso, store):
    person = new_person(sso, store)
    mark = sandbox.requests.mark()

    planned = offboard_identity_center_one(
        IdcOffboardRequest(value=f"{person.user_name}@example.com", selector="email", dry_run=True)
    )
    unknown = offboard_identity_center_one(IdcOffboardRequest(value="nobody.at.all"))

    assert planned.outcome == "planned"
    assert planned.inventory is not None and len(planned.inventory.account_assignments) == 3
    assert unknown.outcome == "refused" and unknown.failure is not None
    assert unknown.failure.kind == "not_found"
    assert changes(sandbox.requests.since(mark)) == []


def test_the_prune_flow_removes_only_denies_whose_time_has_passed_and_audits_it(sso, store):
    person = new_person(sso, store, accounts=())
    first, second = person.permission_set_arns
    now = datetime.now(UTC)
    expired = deny_statement(person.user_id, now - timedelta(minutes=1))
    later = deny_statement(person.user_id, now + timedelta(hours=1))
    lasting = deny_statement(person.user_id, None)
    for arn, statements in ((first, [expired]), (second, [expired, later, lasting])):
        sso.put_inline_policy_to_permission_set(
            InstanceArn=person.instance_arn,
            PermissionSetArn=arn,
            InlinePolicy=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )

    state = prune_identity_center_denies(return_state=True)

    report = state.result()
    mine = {c.permission_set_arn for c in report.pruned if c.user_id == person.user_id}
    assert mine == {first, second}
    assert sso.get_inline_policy_for_permission_set(
        InstanceArn=person.instance_arn, PermissionSetArn=first
    )["InlinePolicy"] in ("", None)
    assert [s["Sid"] for s in denies(sso, person, second)] == [later["Sid"], lasting["Sid"]]
    records = [
        r
        for r in audit_records(report.run_id)
        if r.step == "session_deny" and person.user_id in (r.message or "")
    ]
    assert {r.resources for r in records} == {(first,), (second,)}


def test_a_user_name_longer_than_iam_allows_is_offboarded(sso, store):
    # Identity Center user names go up to 128 characters; IAM's stop at 64.
    name = f"first.last.{'x' * 70}.{uuid.uuid4().hex[:8]}@corp.example.com"
    person = create_identity_center_person(sso, store, name, accounts=("111111111111",))

    report = offboard_identity_center_one(IdcOffboardRequest(value=name))

    assert report.outcome == "deleted", report.failure
    assert [r.user_name for r in report.steps] == [name] * 3
    assert not user_exists(store, person)
    assert type(report).model_validate_json(report.model_dump_json()) == report
