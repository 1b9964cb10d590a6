"""KMS key policies that name principals, in one region, and taking principals out of one."""

from __future__ import annotations

import json
from typing import Any

from tasks.references.clients import region_of, regional_client
from tasks.references.found import Read, Reference, merged, read_or_refused, references_in
from tasks.references.kms_admins import has_administrator
from tasks.references.parallel import each
from tasks.references.rewrite import Rewrite, rewritten

PERMISSIONS = ("kms:ListKeys", "kms:GetKeyPolicy", "kms:PutKeyPolicy")


class KeyWouldLoseEveryAdministrator(Exception):
    """Writing the rewritten policy would leave nobody able to manage the key."""


def kms_client(region: str) -> Any:
    return regional_client("kms", region)


def key_references(region: str) -> Read:
    client = kms_client(region)
    keys = [key for page in client.get_paginator("list_keys").paginate() for key in page["Keys"]]

    def read(key: dict[str, Any]) -> list[Reference]:
        policy = client.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
        return references_in("kms", region, key["KeyArn"], json.loads(policy))

    # A key whose policy does not let the account in refuses even the scan's reader.
    return merged(
        each(keys, lambda key: read_or_refused("kms", region, key["KeyArn"], lambda: read(key)))
    )


def clean_key(key_arn: str, names: set[str]) -> Rewrite | None:
    """The key's policy before and after, or None when it no longer names the principals."""
    client = kms_client(region_of(key_arn))
    old: dict[str, Any] = json.loads(
        client.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
    )
    change = rewritten(old, names)
    if change is None:
        return None
    if not has_administrator(change.new):
        raise KeyWouldLoseEveryAdministrator(f"{key_arn}: no principal could change its policy")
    client.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(change.new))
    return change
