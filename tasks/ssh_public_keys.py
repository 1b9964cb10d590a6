"""Seed step 4: delete the user's SSH public keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.items import Item, SSHPublicKeyItem
from tasks.runtime import StepSpec, step_task

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

# GetSSHPublicKey: the snapshot keeps the key bodies.
PERMISSIONS = ("iam:ListSSHPublicKeys", "iam:DeleteSSHPublicKey", "iam:GetSSHPublicKey")


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


def details(iam: IAMClient, user_name: str, item: Item) -> SSHPublicKeyItem:
    """The key with its body, for the snapshot (ListSSHPublicKeys omits it)."""
    if not isinstance(item, SSHPublicKeyItem):
        raise TypeError(f"not an SSH public key: {item!r}")
    found = iam.get_ssh_public_key(
        UserName=user_name, SSHPublicKeyId=item.ssh_public_key_id, Encoding="SSH"
    )
    return item.model_copy(update={"body": found["SSHPublicKey"]["SSHPublicKeyBody"]})


SPEC = StepSpec(
    name="ssh_public_keys",
    label="SSH keys",
    title="SSH public keys",
    seed_commands=("list-ssh-public-keys", "delete-ssh-public-key"),
    permissions=PERMISSIONS,
    action="iam:DeleteSSHPublicKey",
    list_items=list_items,
    remove=remove,
    details=details,
)
delete_ssh_public_keys = step_task(SPEC)
