"""Seed step 4: delete the user's SSH public keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.items import SSHPublicKeyItem
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PERMISSIONS = ("iam:ListSSHPublicKeys", "iam:DeleteSSHPublicKey")


def list_items(iam: IAMClient, user_name: str) -> tuple[SSHPublicKeyItem, ...]:
    pages = iam.get_paginator("list_ssh_public_keys").paginate(UserName=user_name)
    return tuple(
        SSHPublicKeyItem(
            ssh_public_key_id=key["SSHPublicKeyId"],
            status=key["Status"],
            upload_date=key.get("UploadDate"),
        )
        for key in pages.search("SSHPublicKeys[]")
    )


def remove(iam: IAMClient, user_name: str, key_id: str) -> None:
    iam.delete_ssh_public_key(UserName=user_name, SSHPublicKeyId=key_id)


SPEC = StepSpec(
    name="ssh_public_keys",
    seed_commands=("list-ssh-public-keys", "delete-ssh-public-key"),
    permissions=PERMISSIONS,
    action="iam:DeleteSSHPublicKey",
    list_items=list_items,
    remove=remove,
)
delete_ssh_public_keys = step_task(SPEC)
