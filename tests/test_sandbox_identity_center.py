"""The sandbox answers identitystore and sso-admin as AWS does, over HTTP: unknown ids on delete
are ResourceNotFound, assignment deletion is asynchronous (IN_PROGRESS, then SUCCEEDED, or
FAILED on demand), provisioning is polled, users keep extensions and external ids; the demo
seed has an instance, users, groups and assignments."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.extension import (
    fail_next_assignment_deletions,
    provisioning_count,
    set_assignment_deletion_polls,
    set_external_ids,
)
from sandbox.identity_center_fixtures import (
    ENTERPRISE_EXTENSION,
    create_identity_center_person,
    seed_demo_identity_center,
)


@pytest.fixture(autouse=True)
def default_polls() -> Iterator[None]:
    yield
    set_assignment_deletion_polls(1)


def person_name() -> str:
    return f"idc.{uuid.uuid4().hex[:10]}"


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_deleting_an_unknown_user_or_membership_is_resource_not_found(sso, store):
    person = create_identity_center_person(sso, store, person_name(), accounts=())
    store_id = person.identity_store_id
    with pytest.raises(ClientError) as unknown_user:
        store.delete_user(IdentityStoreId=store_id, UserId=str(uuid.uuid4()))
    with pytest.raises(ClientError) as unknown_membership:
        store.delete_group_membership(IdentityStoreId=store_id, MembershipId=str(uuid.uuid4()))
    assert code_of(unknown_user) == code_of(unknown_membership) == "ResourceNotFoundException"

    membership = store.list_group_memberships_for_member(
        IdentityStoreId=store_id, MemberId={"UserId": person.user_id}
    )["GroupMemberships"][0]["MembershipId"]
    store.delete_group_membership(IdentityStoreId=store_id, MembershipId=membership)
    with pytest.raises(ClientError) as again:
        store.delete_group_membership(IdentityStoreId=store_id, MembershipId=membership)
    assert code_of(again) == "ResourceNotFoundException"

    store.delete_user(IdentityStoreId=store_id, UserId=person.user_id)
    with pytest.raises(ClientError) as deleted:
        store.delete_user(IdentityStoreId=store_id, UserId=person.user_id)
    assert code_of(deleted) == "ResourceNotFoundException"
    # The deleted user's other membership went with it.
    left = store.list_group_memberships(IdentityStoreId=store_id, GroupId=person.group_ids[1])
    assert left["GroupMemberships"] == []


def test_assignment_deletion_is_in_progress_first_then_succeeded(sso, store):
    person = create_identity_center_person(sso, store, person_name(), accounts=("111111111111",))
    account, permission_set = person.assignments[0]
    set_assignment_deletion_polls(2)
    request = dict(
        InstanceArn=person.instance_arn,
        TargetId=account,
        TargetType="AWS_ACCOUNT",
        PermissionSetArn=permission_set,
        PrincipalType="USER",
        PrincipalId=person.user_id,
    )
    started = sso.delete_account_assignment(**request)["AccountAssignmentDeletionStatus"]
    assert started["Status"] == "IN_PROGRESS"

    def listed() -> list[Any]:
        return sso.list_account_assignments_for_principal(
            InstanceArn=person.instance_arn, PrincipalId=person.user_id, PrincipalType="USER"
        )["AccountAssignments"]

    statuses = []
    for _ in range(3):
        assert len(listed()) == 1  # still there while the deletion is in progress
        statuses.append(
            sso.describe_account_assignment_deletion_status(
                InstanceArn=person.instance_arn,
                AccountAssignmentDeletionRequestId=started["RequestId"],
            )["AccountAssignmentDeletionStatus"]["Status"]
        )
    assert statuses == ["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]
    assert listed() == []
    with pytest.raises(ClientError) as gone:
        sso.delete_account_assignment(**request)
    assert code_of(gone) == "ResourceNotFoundException"


def test_assignment_deletion_fails_on_demand_and_the_assignment_stays(sso, store):
    person = create_identity_center_person(sso, store, person_name(), accounts=("222222222222",))
    account, permission_set = person.assignments[0]
    set_assignment_deletion_polls(0)
    fail_next_assignment_deletions(1, "target account unreachable")
    started = sso.delete_account_assignment(
        InstanceArn=person.instance_arn,
        TargetId=account,
        TargetType="AWS_ACCOUNT",
        PermissionSetArn=permission_set,
        PrincipalType="USER",
        PrincipalId=person.user_id,
    )["AccountAssignmentDeletionStatus"]
    status = sso.describe_account_assignment_deletion_status(
        InstanceArn=person.instance_arn, AccountAssignmentDeletionRequestId=started["RequestId"]
    )["AccountAssignmentDeletionStatus"]
    assert (status["Status"], status["FailureReason"]) == ("FAILED", "target account unreachable")
    left = sso.list_account_assignments_for_principal(
        InstanceArn=person.instance_arn, PrincipalId=person.user_id, PrincipalType="USER"
    )["AccountAssignments"]
    assert [(a["AccountId"], a["PermissionSetArn"]) for a in left] == [(account, permission_set)]


def test_provisioning_is_polled_and_counted(sso, store):
    person = create_identity_center_person(sso, store, person_name(), accounts=())
    arn = person.permission_set_arns[0]
    described = sso.describe_permission_set(InstanceArn=person.instance_arn, PermissionSetArn=arn)
    assert described["PermissionSet"]["SessionDuration"] == "PT1H"
    started = sso.provision_permission_set(
        InstanceArn=person.instance_arn, PermissionSetArn=arn, TargetType="ALL_PROVISIONED_ACCOUNTS"
    )["PermissionSetProvisioningStatus"]
    assert started["Status"] == "IN_PROGRESS"
    statuses = [
        sso.describe_permission_set_provisioning_status(
            InstanceArn=person.instance_arn, ProvisionPermissionSetRequestId=started["RequestId"]
        )["PermissionSetProvisioningStatus"]["Status"]
        for _ in range(2)
    ]
    assert statuses == ["IN_PROGRESS", "SUCCEEDED"]
    assert provisioning_count(arn) == 1


def test_users_keep_extensions_and_external_ids_and_are_found_by_them(sso, store):
    name = person_name()
    person = create_identity_center_person(sso, store, name, employee_id="E-77", accounts=())
    store_id = person.identity_store_id
    set_external_ids(person.user_id, [("https://idp.example.com", "ext-77")])

    found = store.get_user_id(
        IdentityStoreId=store_id,
        AlternateIdentifier={"ExternalId": {"Issuer": "https://idp.example.com", "Id": "ext-77"}},
    )
    assert found["UserId"] == person.user_id
    by_email = store.get_user_id(
        IdentityStoreId=store_id,
        AlternateIdentifier={
            "UniqueAttribute": {
                "AttributePath": "emails.value",
                "AttributeValue": f"{name}@example.com",
            }
        },
    )
    assert by_email["UserId"] == person.user_id
    with pytest.raises(ClientError) as unknown:
        store.get_user_id(
            IdentityStoreId=store_id,
            AlternateIdentifier={"ExternalId": {"Issuer": "https://idp.example.com", "Id": "no"}},
        )
    assert code_of(unknown) == "ResourceNotFoundException"

    plain = store.describe_user(IdentityStoreId=store_id, UserId=person.user_id)
    assert "Extensions" not in plain
    assert plain["ExternalIds"] == [{"Issuer": "https://idp.example.com", "Id": "ext-77"}]
    full = store.describe_user(
        IdentityStoreId=store_id, UserId=person.user_id, Extensions=[ENTERPRISE_EXTENSION]
    )
    assert full["Extensions"] == {ENTERPRISE_EXTENSION: {"employeeNumber": "E-77"}}
    listed = [
        user
        for page in store.get_paginator("list_users").paginate(
            IdentityStoreId=store_id, Extensions=[ENTERPRISE_EXTENSION]
        )
        for user in page["Users"]
        if user["UserId"] == person.user_id
    ]
    assert listed[0]["Extensions"][ENTERPRISE_EXTENSION]["employeeNumber"] == "E-77"


def test_demo_seed_has_users_groups_and_assignments_and_can_be_repeated(sso, store):
    names = seed_demo_identity_center(sso, store)
    assert seed_demo_identity_center(sso, store) == names
    instance = sso.list_instances()["Instances"][0]
    store_id = instance["IdentityStoreId"]
    user_id = store.get_user_id(
        IdentityStoreId=store_id,
        AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": names[0]}
        },
    )["UserId"]
    groups = store.list_group_memberships_for_member(
        IdentityStoreId=store_id, MemberId={"UserId": user_id}
    )["GroupMemberships"]
    assignments = sso.list_account_assignments_for_principal(
        InstanceArn=instance["InstanceArn"], PrincipalId=user_id, PrincipalType="USER"
    )["AccountAssignments"]
    assert (len(groups), len(assignments)) == (2, 3)
