"""Seed step 9: remove the user from every group (the groups themselves stay)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.items import GroupItem
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListGroupsForUser", "iam:RemoveUserFromGroup")


def list_items(iam: IAMClient, user_name: str) -> tuple[GroupItem, ...]:
    pages = iam.get_paginator("list_groups_for_user").paginate(UserName=user_name)
    return tuple(
        GroupItem(group_name=group["GroupName"], arn=group.get("Arn"), path=group["Path"])
        for group in pages.search("Groups[]")
    )


def remove(iam: IAMClient, user_name: str, group_name: str) -> None:
    iam.remove_user_from_group(UserName=user_name, GroupName=group_name)


SPEC = StepSpec(
    name="groups",
    label="groups",
    title="group memberships",
    seed_commands=("list-groups-for-user", "remove-user-from-group"),
    permissions=PERMISSIONS,
    action="iam:RemoveUserFromGroup",
    list_items=list_items,
    remove=remove,
)
remove_from_groups = step_task(SPEC)
