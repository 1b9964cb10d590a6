"""The user's account assignments: ListAccountAssignmentsForPrincipal → DeleteAccountAssignment,
then DescribeAccountAssignmentDeletionStatus until it succeeds (FAILED fails the step, so its
retries repeat the deletion; the permission sets stay)."""

from __future__ import annotations

from typing import Any

from tasks.aws import sso_admin_client
from tasks.identity_center.models import (
    AccountAssignmentItem,
    IdcTarget,
    split_assignment_id,
)
from tasks.identity_center.permission_sets import describer
from tasks.identity_center.polling import wait_until_done
from tasks.identity_center.steps import IdcStepSpec, idc_step_task

PERMISSIONS = (
    "sso:ListAccountAssignmentsForPrincipal",
    "sso:DeleteAccountAssignment",
    "sso:DescribeAccountAssignmentDeletionStatus",
)


def assignments_of(
    instance_arn: str, principal_id: str, principal_type: str = "USER"
) -> tuple[AccountAssignmentItem, ...]:
    """The principal's own assignments (not those it holds through a group), named."""
    pages = (
        sso_admin_client()
        .get_paginator("list_account_assignments_for_principal")
        .paginate(InstanceArn=instance_arn, PrincipalId=principal_id, PrincipalType=principal_type)
    )
    describe = describer(instance_arn)
    found: list[AccountAssignmentItem] = []
    for assignment in pages.search("AccountAssignments[]"):
        if (assignment.get("PrincipalId"), assignment.get("PrincipalType")) != (
            principal_id,
            principal_type,
        ):
            continue
        info = describe(assignment["PermissionSetArn"])
        found.append(
            AccountAssignmentItem(
                account_id=assignment["AccountId"],
                permission_set_arn=assignment["PermissionSetArn"],
                permission_set_name=info.name,
                session_duration_seconds=info.session_duration_seconds,
            )
        )
    return tuple(found)


def list_items(target: IdcTarget) -> tuple[AccountAssignmentItem, ...]:
    return assignments_of(target.instance.instance_arn, target.user_id)


def remove(target: IdcTarget, item: str) -> None:
    account_id, permission_set_arn = split_assignment_id(item)
    sso = sso_admin_client()
    instance_arn = target.instance.instance_arn
    started = sso.delete_account_assignment(
        InstanceArn=instance_arn,
        TargetId=account_id,
        TargetType="AWS_ACCOUNT",
        PermissionSetArn=permission_set_arn,
        PrincipalType="USER",
        PrincipalId=target.user_id,
    )["AccountAssignmentDeletionStatus"]

    def ask(request_id: str) -> dict[str, Any]:
        status: dict[str, Any] = sso.describe_account_assignment_deletion_status(
            InstanceArn=instance_arn, AccountAssignmentDeletionRequestId=request_id
        )["AccountAssignmentDeletionStatus"]
        return status

    wait_until_done(
        started,
        ask,
        "sso:DeleteAccountAssignment",
        f"deleting the assignment of {permission_set_arn} in {account_id}",
    )


SPEC = IdcStepSpec(
    name="account_assignments",
    label="assignments",
    title="account assignments",
    permissions=PERMISSIONS,
    action="sso:DeleteAccountAssignment",
    list_items=list_items,
    remove=remove,
)
delete_account_assignments = idc_step_task(SPEC)
