"""KMS key policies that name principals, in one region, and taking a principal out of one."""

from __future__ import annotations

import json
from typing import Any

from tasks.aws import current_factory
from tasks.references.found import Reference, references_in
from tasks.references.kms_admins import has_administrator
from tasks.references.rewrite import without_principal

PERMISSIONS = ("kms:ListKeys", "kms:GetKeyPolicy", "kms:PutKeyPolicy")


class KeyWouldLoseEveryAdministrator(Exception):
    """Writing the rewritten policy would leave nobody able to manage the key."""


def kms_client(region: str) -> Any:
    factory = current_factory()
    session: Any = factory.session
    return session.client("kms", region_name=region, config=factory.config)


def key_references(region: str) -> list[Reference]:
    client = kms_client(region)
    found: list[Reference] = []
    for page in client.get_paginator("list_keys").paginate():
        for key in page.get("Keys", []):
            policy = client.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
            found += references_in("kms", region, key["KeyArn"], json.loads(policy))
    return found


def clean_key(key_arn: str, names: set[str]) -> dict[str, Any] | None:
    """The key's old policy when it was rewritten, None when it no longer names the principal."""
    client = kms_client(key_arn.split(":")[3])
    old: dict[str, Any] = json.loads(
        client.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
    )
    new = without_principal(old, names)
    if new is None:
        return None
    if not has_administrator(new):
        raise KeyWouldLoseEveryAdministrator(f"{key_arn}: no principal could change its policy")
    client.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(new))
    return old
