"""Seed step 7: delete the user's inline policies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.items import InlinePolicyItem
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListUserPolicies", "iam:DeleteUserPolicy")


def list_items(iam: IAMClient, user_name: str) -> tuple[InlinePolicyItem, ...]:
    pages = iam.get_paginator("list_user_policies").paginate(UserName=user_name)
    return tuple(InlinePolicyItem(policy_name=name) for name in pages.search("PolicyNames[]"))


def remove(iam: IAMClient, user_name: str, policy_name: str) -> None:
    iam.delete_user_policy(UserName=user_name, PolicyName=policy_name)


SPEC = StepSpec(
    name="inline_policies",
    seed_commands=("list-user-policies", "delete-user-policy"),
    permissions=PERMISSIONS,
    action="iam:DeleteUserPolicy",
    list_items=list_items,
    remove=remove,
)
delete_inline_policies = step_task(SPEC)
