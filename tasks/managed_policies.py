"""Seed step 8: detach the managed policies attached to the user (the policies themselves stay)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListAttachedUserPolicies", "iam:DetachUserPolicy")


def list_ids(iam: IAMClient, user_name: str) -> tuple[str, ...]:
    pages = iam.get_paginator("list_attached_user_policies").paginate(UserName=user_name)
    return tuple(pages.search("AttachedPolicies[].PolicyArn"))


def remove(iam: IAMClient, user_name: str, policy_arn: str) -> None:
    iam.detach_user_policy(UserName=user_name, PolicyArn=policy_arn)


SPEC = StepSpec(
    name="attached_policies",
    seed_commands=("list-attached-user-policies", "detach-user-policy"),
    permissions=PERMISSIONS,
    list_ids=list_ids,
    remove=remove,
)
detach_managed_policies = step_task(SPEC)
