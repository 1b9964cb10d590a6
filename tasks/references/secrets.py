"""Secrets Manager resource policies that name principals, in one region."""

from __future__ import annotations

import json
from typing import Any

from tasks.aws import current_factory
from tasks.references.found import Reference, references_in

PERMISSIONS = ("secretsmanager:ListSecrets", "secretsmanager:GetResourcePolicy")


def secret_references(region: str) -> list[Reference]:
    factory = current_factory()
    session: Any = factory.session
    client = session.client("secretsmanager", region_name=region, config=factory.config)
    found: list[Reference] = []
    for page in client.get_paginator("list_secrets").paginate():
        for secret in page.get("SecretList", []):
            policy = client.get_resource_policy(SecretId=secret["ARN"]).get("ResourcePolicy")
            if policy:
                found += references_in("secretsmanager", region, secret["ARN"], json.loads(policy))
    return found
