"""IAM role trust policies that name principals (IAM is global)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from tasks.aws import iam_client
from tasks.references.found import Reference, references_in

PERMISSIONS = ("iam:ListRoles",)


def role_references() -> list[Reference]:
    found: list[Reference] = []
    # ListRoles returns each role's trust policy, so one call per page serves every role.
    for page in iam_client().get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            raw: Any = role.get("AssumeRolePolicyDocument") or {}
            # boto3 decodes the document; a string is the URL-encoded JSON IAM sends.
            document: dict[str, object] = (
                json.loads(unquote(raw)) if isinstance(raw, str) else dict(raw)
            )
            found += references_in("iam", "global", role["Arn"], document)
    return found
