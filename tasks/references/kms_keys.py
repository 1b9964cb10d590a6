"""KMS key policies that name principals, in one region, and taking principals out of one."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from tasks.errors import error_code
from tasks.references.clients import region_of, regional_client
from tasks.references.found import NotScanned, Read, Reference, references_in, refused
from tasks.references.kms_admins import has_administrator
from tasks.references.rewrite import Rewrite, rewritten

PERMISSIONS = ("kms:ListKeys", "kms:GetKeyPolicy", "kms:PutKeyPolicy")


class KeyWouldLoseEveryAdministrator(Exception):
    """Writing the rewritten policy would leave nobody able to manage the key."""


def kms_client(region: str) -> Any:
    return regional_client("kms", region)


def key_references(region: str) -> Read:
    client = kms_client(region)
    found: list[Reference] = []
    not_scanned: list[NotScanned] = []
    for page in client.get_paginator("list_keys").paginate():
        for key in page.get("Keys", []):
            arn = key["KeyArn"]
            try:
                policy = client.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
            except ClientError as error:
                # A key whose policy does not let the account in refuses even its listing's reader.
                if not refused(error):
                    raise
                reason = str(error_code(error))
                not_scanned.append(
                    NotScanned(service="kms", resource_arn=arn, reason=reason, region=region)
                )
                continue
            found += references_in("kms", region, arn, json.loads(policy))
    return found, not_scanned


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
