"""Seed step 7: delete the user's inline policies."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tasks.errors import if_exists
from tasks.items import InlinePolicyItem, Item
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = (
    "iam:ListUserPolicies",
    "iam:DeleteUserPolicy",
    # For the helpers deactivation, leave and restore use to write inline policies.
    "iam:GetUserPolicy",
    "iam:PutUserPolicy",
)


def list_items(iam: IAMClient, user_name: str) -> tuple[InlinePolicyItem, ...]:
    pages = iam.get_paginator("list_user_policies").paginate(UserName=user_name)
    return tuple(InlinePolicyItem(policy_name=name) for name in pages.search("PolicyNames[]"))


def current_document(iam: IAMClient, user_name: str, policy_name: str) -> dict[str, Any] | None:
    found = if_exists(lambda: iam.get_user_policy(UserName=user_name, PolicyName=policy_name))
    if found is None:
        return None
    # boto3 decodes IAM's URL-encoded JSON into a dict.
    document: dict[str, Any] = found["PolicyDocument"]  # type: ignore[assignment]
    return document


def ensure_policy(iam: IAMClient, user_name: str, name: str, document: dict[str, Any]) -> bool:
    """Put the policy unless exactly this document is already there; True when it wrote."""
    if current_document(iam, user_name, name) == document:
        return False
    iam.put_user_policy(UserName=user_name, PolicyName=name, PolicyDocument=json.dumps(document))
    return True


def remove_policy(iam: IAMClient, user_name: str, name: str) -> bool:
    """Delete the policy; False when it was not there."""
    return (
        if_exists(lambda: iam.delete_user_policy(UserName=user_name, PolicyName=name)) is not None
    )


def remove(iam: IAMClient, user_name: str, policy_name: str) -> None:
    iam.delete_user_policy(UserName=user_name, PolicyName=policy_name)


def details(iam: IAMClient, user_name: str, item: Item) -> InlinePolicyItem:
    """The policy with its document, for the snapshot (ListUserPolicies gives names only)."""
    if not isinstance(item, InlinePolicyItem):
        raise TypeError(f"not an inline policy: {item!r}")
    found = iam.get_user_policy(UserName=user_name, PolicyName=item.policy_name)
    return item.model_copy(update={"document": found["PolicyDocument"]})


SPEC = StepSpec(
    name="inline_policies",
    label="inline policies",
    title="inline policies",
    seed_commands=("list-user-policies", "delete-user-policy"),
    permissions=PERMISSIONS,
    action="iam:DeleteUserPolicy",
    list_items=list_items,
    remove=remove,
    details=details,
)
delete_inline_policies = step_task(SPEC)
