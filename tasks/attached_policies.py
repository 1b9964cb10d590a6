"""Seed step 8: detach the managed policies attached to the user (the policies themselves stay)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.items import AttachedPolicyItem
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListAttachedUserPolicies", "iam:DetachUserPolicy")


def list_items(iam: IAMClient, user_name: str) -> tuple[AttachedPolicyItem, ...]:
    pages = iam.get_paginator("list_attached_user_policies").paginate(UserName=user_name)
    return tuple(
        AttachedPolicyItem(policy_arn=policy["PolicyArn"], policy_name=policy["PolicyName"])
        for policy in pages.search("AttachedPolicies[]")
    )


def remove(iam: IAMClient, user_name: str, policy_arn: str) -> None:
    iam.detach_user_policy(UserName=user_name, PolicyArn=policy_arn)


SPEC = StepSpec(
    name="attached_policies",
    label="managed policies",
    title="managed policies (detach)",
    seed_commands=("list-attached-user-policies", "detach-user-policy"),
    permissions=PERMISSIONS,
    action="iam:DetachUserPolicy",
    list_items=list_items,
    remove=remove,
)
detach_managed_policies = step_task(SPEC)
