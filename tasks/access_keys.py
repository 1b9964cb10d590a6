"""Seed step 2: delete the user's access keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.items import AccessKeyItem
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListAccessKeys", "iam:DeleteAccessKey")


def list_items(iam: IAMClient, user_name: str) -> tuple[AccessKeyItem, ...]:
    pages = iam.get_paginator("list_access_keys").paginate(UserName=user_name)
    return tuple(
        AccessKeyItem(
            access_key_id=key["AccessKeyId"],
            status=key["Status"],
            create_date=key.get("CreateDate"),
        )
        for key in pages.search("AccessKeyMetadata[]")
    )


def remove(iam: IAMClient, user_name: str, key_id: str) -> None:
    iam.delete_access_key(UserName=user_name, AccessKeyId=key_id)


SPEC = StepSpec(
    name="access_keys",
    label="access keys",
    title="access keys",
    seed_commands=("list-access-keys", "delete-access-key"),
    permissions=PERMISSIONS,
    action="iam:DeleteAccessKey",
    list_items=list_items,
    remove=remove,
)
delete_access_keys = step_task(SPEC)
