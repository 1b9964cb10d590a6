"""What hangs off an Identity Center user, listed once before the steps act on it."""

from __future__ import annotations

from tasks.aws import count_calls
from tasks.identity_center import account_assignments, group_memberships
from tasks.identity_center.models import IdcInventory, IdcTarget
from tasks.runtime import iam_task

# The listings are the steps' own (declared there).
PERMISSIONS: tuple[str, ...] = ()


@iam_task(
    name="identity-center-inventory",
    task_run_name="identity-center-inventory:{target.user_name}",
)
def take_idc_inventory(target: IdcTarget) -> IdcInventory:
    with count_calls() as calls:
        memberships = group_memberships.list_items(target)
        through_groups = tuple(
            assignment
            for membership in memberships
            for assignment in account_assignments.assignments_of(
                target.instance.instance_arn, membership.group_id, "GROUP"
            )
        )
        return IdcInventory(
            user_name=target.user_name,
            account_assignments=account_assignments.list_items(target),
            group_memberships=memberships,
            group_assignments=through_groups,
            api_calls=calls.count,
        )
