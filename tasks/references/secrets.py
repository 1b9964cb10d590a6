"""Secrets Manager resource policies that name principals, in one region, and taking principals
out of one. Only policies are read: never a secret's value."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from tasks.errors import error_code
from tasks.references.clients import region_of, regional_client
from tasks.references.found import NotScanned, Read, Reference, references_in, refused
from tasks.references.rewrite import Rewrite, rewritten

PERMISSIONS = (
    "secretsmanager:ListSecrets",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:DeleteResourcePolicy",
)


def secret_references(region: str) -> Read:
    client = regional_client("secretsmanager", region)
    found: list[Reference] = []
    not_scanned: list[NotScanned] = []
    for page in client.get_paginator("list_secrets").paginate():
        for secret in page.get("SecretList", []):
            arn = secret["ARN"]
            try:
                policy = client.get_resource_policy(SecretId=arn).get("ResourcePolicy")
            except ClientError as error:
                if not refused(error):
                    raise
                reason = str(error_code(error))
                not_scanned.append(
                    NotScanned(
                        service="secretsmanager", resource_arn=arn, reason=reason, region=region
                    )
                )
                continue
            if policy:
                found += references_in("secretsmanager", region, arn, json.loads(policy))
    return found, not_scanned


def clean_secret(secret_arn: str, names: set[str]) -> Rewrite | None:
    client = regional_client("secretsmanager", region_of(secret_arn))
    policy = client.get_resource_policy(SecretId=secret_arn).get("ResourcePolicy")
    if not policy:
        return None
    old: dict[str, Any] = json.loads(policy)
    change = rewritten(old, names)
    if change is None:
        return None
    if change.new["Statement"]:
        client.put_resource_policy(SecretId=secret_arn, ResourcePolicy=json.dumps(change.new))
    else:
        client.delete_resource_policy(SecretId=secret_arn)
    return change
