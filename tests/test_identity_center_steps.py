"""The Identity Center tasks against the sandbox over HTTP: lookups by user name, email,
external id and employee id; each deletion step run twice removes nothing the second time; an
assignment deletion that ends FAILED is retried, and reported when it keeps failing; the session
deny is written once, provisioned, and pruned when its time has passed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows.report import StepFailure
from sandbox.extension import (
    clear_identity_center_state,
    fail_next_assignment_deletions,
    provisioning_count,
    set_external_ids,
)
from sandbox.identity_center_fixtures import (
    IdentityCenterPerson,
    create_identity_center_person,
)
from tasks.identity_center import account_assignments, group_memberships, lookup, user
from tasks.identity_center.instance import find_instance
from tasks.identity_center.inventory import take_idc_inventory
from tasks.identity_center.models import IdcInstance, IdcTarget
from tasks.identity_center.procedure import IDENTITY_CENTER_PROCEDURE
from tasks.identity_center.session_deny import deny_sessions, prune_session_denies
from tests.helpers import engine_settings

pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")


@pytest.fixture(autouse=True)
def quick_polls() -> Iterator[None]:
    with engine_settings(identity_center_poll_seconds="0.01"):
        yield
    clear_identity_center_state()


def new_person(sso: Any, store: Any, **options: Any) -> IdentityCenterPerson:
    return create_identity_center_person(sso, store, f"idc.{uuid.uuid4().hex[:10]}", **options)


def target_of(person: IdentityCenterPerson) -> IdcTarget:
    return IdcTarget(instance=find_instance(), user_id=person.user_id, user_name=person.user_name)


def test_the_procedure_is_assignments_then_memberships_then_the_user():
    assert [step.name for step in IDENTITY_CENTER_PROCEDURE] == [
        "account_assignments",
        "group_memberships",
        "user",
    ]


def test_a_user_is_found_by_name_email_external_id_and_employee_id(sso, store):
    employee = f"E-{uuid.uuid4().hex[:8]}"
    person = new_person(sso, store, employee_id=employee, accounts=())
    set_external_ids(person.user_id, [("https://idp.example.com/saml", "okta-123")])
    instance = find_instance()
    assert instance == IdcInstance(
        instance_arn=person.instance_arn, identity_store_id=person.identity_store_id
    )

    for selector, value in (
        ("user_name", person.user_name),
        ("email", f"{person.user_name}@example.com"),
        ("external_id", "https://idp.example.com/saml#okta-123"),
    ):
        assert lookup.user_id_by(instance, selector, value) == person.user_id, selector
    assert lookup.user_id_by(instance, "user_name", "nobody.here") is None
    assert lookup.user_ids_by_employee(instance, [employee, "E-none"]) == {
        employee: (person.user_id,),
        "E-none": (),
    }
    found = lookup.describe_user(instance, person.user_id)
    assert found is not None
    assert (found.user_name, found.employee_id) == (person.user_name, employee)
    assert found.emails == (f"{person.user_name}@example.com",)
    assert found.attributes["UserName"] == person.user_name
    assert lookup.describe_user(instance, str(uuid.uuid4())) is None


def test_the_inventory_names_assignments_memberships_and_assignments_through_groups(sso, store):
    person = new_person(sso, store)
    group_set = person.permission_set_arns[1]
    sso.create_account_assignment(
        InstanceArn=person.instance_arn,
        TargetId="444444444444",
        TargetType="AWS_ACCOUNT",
        PermissionSetArn=group_set,
        PrincipalType="GROUP",
        PrincipalId=person.group_ids[0],
    )

    inventory = take_idc_inventory.fn(target_of(person))

    assert {(a.account_id, a.permission_set_arn) for a in inventory.account_assignments} == set(
        person.assignments
    )
    assert {a.session_duration_seconds for a in inventory.account_assignments} == {3600, 4 * 3600}
    assert {m.group_id for m in inventory.group_memberships} == set(person.group_ids)
    assert all(m.group_name for m in inventory.group_memberships)
    assert [(a.account_id, a.permission_set_arn) for a in inventory.group_assignments] == [
        ("444444444444", group_set)
    ]
    assert inventory.permission_sets() == {
        person.permission_set_arns[0]: 3600,
        person.permission_set_arns[1]: 4 * 3600,
    }


def test_each_step_run_twice_removes_nothing_the_second_time(sso, store):
    person = new_person(sso, store)
    target = target_of(person)
    inventory = take_idc_inventory.fn(target)

    first = [
        step.task(target, inventory.items(step.name)) for step in IDENTITY_CENTER_PROCEDURE[:2]
    ]
    first.append(user.delete_identity_center_user(target, (person.user_id,)))
    assert [len(r.removed) for r in first] == [3, 2, 1]

    relisted = [step.task(target) for step in IDENTITY_CENTER_PROCEDURE]
    assert all(r.removed == () and r.already_absent == () for r in relisted)
    # Handed the first inventory again, every item is already absent, nothing fails.
    again = [
        step.task(target, inventory.items(step.name)) for step in IDENTITY_CENTER_PROCEDURE[:2]
    ]
    again.append(user.delete_identity_center_user(target, (person.user_id,)))
    assert [r.removed for r in again] == [(), (), ()]
    assert [len(r.already_absent) for r in again] == [3, 2, 1]

    # The groups and permission sets stay.
    for group_id in person.group_ids:
        store.describe_group(IdentityStoreId=person.identity_store_id, GroupId=group_id)
    for arn in person.permission_set_arns:
        sso.describe_permission_set(InstanceArn=person.instance_arn, PermissionSetArn=arn)


def test_a_failed_assignment_deletion_is_retried(sso, store):
    person = new_person(sso, store, accounts=("111111111111",))
    fail_next_assignment_deletions(1)

    result = account_assignments.delete_account_assignments(target_of(person))

    assert len(result.removed) == 1
    left = account_assignments.assignments_of(person.instance_arn, person.user_id)
    assert left == ()


def test_an_assignment_deletion_that_keeps_failing_is_reported(sso, store):
    person = new_person(sso, store, accounts=("111111111111",))
    fail_next_assignment_deletions(20, "the target account refused")

    state = account_assignments.delete_account_assignments(target_of(person), return_state=True)

    assert state.is_failed()
    failure = StepFailure.from_state("account_assignments", state)
    assert failure.error_code == "FAILED"
    assert failure.action == "sso:DeleteAccountAssignment"
    assert "the target account refused" in failure.message
    # Every attempt asked again: the step's retries, each one deletion.
    assert len(account_assignments.assignments_of(person.instance_arn, person.user_id)) == 1


def test_membership_deletion_of_an_unknown_id_is_already_absent(sso, store):
    person = new_person(sso, store, accounts=())
    result = group_memberships.delete_group_memberships(target_of(person), (str(uuid.uuid4()),))
    assert (result.removed, len(result.already_absent)) == ((), 1)


def inline_statements(sso: Any, person: IdentityCenterPerson, arn: str) -> list[dict[str, Any]]:
    text = sso.get_inline_policy_for_permission_set(
        InstanceArn=person.instance_arn, PermissionSetArn=arn
    )["InlinePolicy"]
    statements: list[dict[str, Any]] = json.loads(text)["Statement"] if text else []
    return statements


def test_the_session_deny_is_written_once_provisioned_and_pruned_after_its_time(sso, store):
    person = new_person(sso, store)
    instance = find_instance()
    arns = person.permission_set_arns
    until = datetime.now(UTC) + timedelta(hours=4)

    first = deny_sessions(instance, person.user_id, arns, until)
    second = deny_sessions(instance, person.user_id, arns, until + timedelta(minutes=1))

    assert [c.change for c in first] == ["added", "added"]
    assert [c.change for c in second] == ["kept", "kept"]
    for arn in arns:
        statements = inline_statements(sso, person, arn)
        denies = [s for s in statements if s["Effect"] == "Deny"]
        assert len(denies) == 1
        assert denies[0]["Condition"] == {"StringEquals": {"identitystore:UserId": person.user_id}}
        assert any(s["Effect"] == "Allow" for s in statements)  # the set's own grant stays
        assert provisioning_count(arn) == 1

    early = prune_session_denies(instance, until - timedelta(minutes=5))
    assert [c for c in early if c.user_id == person.user_id] == []
    pruned = prune_session_denies(instance, until + timedelta(minutes=1))
    assert {(c.permission_set_arn, c.user_id) for c in pruned} >= {
        (arn, person.user_id) for arn in arns
    }
    for arn in arns:
        assert [s["Effect"] for s in inline_statements(sso, person, arn)] == ["Allow"]
        assert provisioning_count(arn) == 2


def test_a_deny_for_good_is_never_pruned(sso, store):
    person = new_person(sso, store, session_durations=("PT2H",))
    instance = find_instance()
    arn = person.permission_set_arns[0]
    deny_sessions(instance, person.user_id, (arn,), datetime.now(UTC) + timedelta(hours=2))

    made = deny_sessions(instance, person.user_id, (arn,), None)

    assert [c.change for c in made] == ["added"]
    prune_session_denies(instance, datetime.now(UTC) + timedelta(days=365))
    denies = [s for s in inline_statements(sso, person, arn) if s["Effect"] == "Deny"]
    assert len(denies) == 1 and "Until" not in denies[0]["Sid"]


def test_every_identity_center_call_is_declared_beside_it():
    """Each sso-admin / identitystore call in tasks/identity_center/ is in its module's
    PERMISSIONS (``sso:`` for sso-admin), so the engine policy is generated from them."""
    import re
    from pathlib import Path

    import botocore.session
    from botocore import xform_name

    from tasks.permissions import declared_permissions

    session = botocore.session.get_session()
    by_method: dict[str, set[str]] = {}
    for service, prefix in (("sso-admin", "sso"), ("identitystore", "identitystore")):
        for name in session.get_service_model(service).operation_names:
            by_method.setdefault(xform_name(name), set()).add(f"{prefix}:{name}")
    call = re.compile(r"\.(?!get_paginator)([a-z_]+)\(|get_paginator\(\"([a-z_]+)\"\)")
    declared = declared_permissions()
    folder = Path(__file__).resolve().parents[1] / "tasks" / "identity_center"
    checked, missing = 0, []
    for path in sorted(folder.glob("*.py")):
        module = f"identity_center.{path.stem}"
        for method in sorted({a or b for a, b in call.findall(path.read_text())}):
            actions = by_method.get(method)
            if not actions:
                continue
            checked += 1
            if not actions & set(declared.get(module, ())):
                missing.append(f"{path.name}: {sorted(actions)}")
    assert missing == []
    assert checked >= 20
