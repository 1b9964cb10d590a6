"""Seed step 9: remove the user from every group (the groups themselves stay)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListGroupsForUser", "iam:RemoveUserFromGroup")


def list_ids(iam: IAMClient, user_name: str) -> tuple[str, ...]:
    pages = iam.get_paginator("list_groups_for_user").paginate(UserName=user_name)
    return tuple(pages.search("Groups[].GroupName"))


def remove(iam: IAMClient, user_name: str, group_name: str) -> None:
    iam.remove_user_from_group(UserName=user_name, GroupName=group_name)


SPEC = StepSpec(
    name="groups",
    seed_commands=("list-groups-for-user", "remove-user-from-group"),
    permissions=PERMISSIONS,
    list_ids=list_ids,
    remove=remove,
)
remove_from_groups = step_task(SPEC)
