"""Put an Identity Center user back from its snapshot: the user (a new user id, as AWS gives
one), its group memberships and its account assignments. Groups and permission sets were never
removed; one that is gone since is reported, not recreated."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tasks.aws import identitystore_client, sso_admin_client
from tasks.errors import error_code
from tasks.frozen import Frozen
from tasks.identity_center.polling import wait_until_done
from tasks.identity_center.snapshot import IdcSnapshot
from tasks.identity_center.steps import NOT_FOUND
from tasks.runtime import iam_task

PERMISSIONS = (
    "identitystore:CreateUser",
    "identitystore:CreateGroupMembership",
    "sso:CreateAccountAssignment",
    "sso:DescribeAccountAssignmentCreationStatus",
)


class IdcRestoreResult(Frozen):
    user_id: str
    group_ids: tuple[str, ...] = ()
    assignments: tuple[str, ...] = ()
    # Groups or permission sets the snapshot names that no longer exist.
    missing: tuple[str, ...] = ()


@iam_task(name="restore-identity-center-user")
def restore_idc_user(snapshot: IdcSnapshot) -> IdcRestoreResult:
    store, sso = identitystore_client(), sso_admin_client()
    instance = snapshot.instance
    user_id: str = store.create_user(
        IdentityStoreId=instance.identity_store_id, **snapshot.user.attributes
    )["UserId"]
    groups: list[str] = []
    assignments: list[str] = []
    missing: list[str] = []
    for membership in snapshot.inventory.group_memberships:
        try:
            store.create_group_membership(
                IdentityStoreId=instance.identity_store_id,
                GroupId=membership.group_id,
                MemberId={"UserId": user_id},
            )
        except ClientError as exc:
            if error_code(exc) != NOT_FOUND:
                raise
            missing.append(f"group {membership.group_name or membership.group_id}")
        else:
            groups.append(membership.group_id)
    for assignment in snapshot.inventory.account_assignments:
        try:
            started = sso.create_account_assignment(
                InstanceArn=instance.instance_arn,
                TargetId=assignment.account_id,
                TargetType="AWS_ACCOUNT",
                PermissionSetArn=assignment.permission_set_arn,
                PrincipalType="USER",
                PrincipalId=user_id,
            )["AccountAssignmentCreationStatus"]
        except ClientError as exc:
            if error_code(exc) != NOT_FOUND:
                raise
            missing.append(f"permission set {assignment.permission_set_arn}")
            continue

        def ask(request_id: str) -> dict[str, Any]:
            status: dict[str, Any] = sso.describe_account_assignment_creation_status(
                InstanceArn=instance.instance_arn, AccountAssignmentCreationRequestId=request_id
            )["AccountAssignmentCreationStatus"]
            return status

        wait_until_done(
            started, ask, "sso:CreateAccountAssignment", f"assigning {assignment.id} again"
        )
        assignments.append(assignment.id)
    return IdcRestoreResult(
        user_id=user_id,
        group_ids=tuple(groups),
        assignments=tuple(assignments),
        missing=tuple(missing),
    )
