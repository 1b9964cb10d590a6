"""Secrets Manager resource policies that name principals, in one region, and taking principals
out of one. Only policies are read: never a secret's value."""

from __future__ import annotations

import json
from typing import Any

from tasks.references.clients import region_of, regional_client
from tasks.references.found import Read, Reference, merged, read_or_refused, references_in
from tasks.references.parallel import each
from tasks.references.rewrite import Rewrite, rewritten

PERMISSIONS = (
    "secretsmanager:ListSecrets",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:DeleteResourcePolicy",
)


def secret_references(region: str) -> Read:
    client = regional_client("secretsmanager", region)
    pages = client.get_paginator("list_secrets").paginate()
    secrets = [secret["ARN"] for page in pages for secret in page.get("SecretList", [])]

    def read(arn: str) -> list[Reference]:
        policy = client.get_resource_policy(SecretId=arn).get("ResourcePolicy")
        return references_in("secretsmanager", region, arn, json.loads(policy)) if policy else []

    return merged(
        each(secrets, lambda arn: read_or_refused("secretsmanager", region, arn, lambda: read(arn)))
    )


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
